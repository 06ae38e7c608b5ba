"""A conf.d file with one byte that is not UTF-8 (a Latin-1 comment) is a
valid nginx config: the role's nginx_file checks the whole config with it
before the reload handler runs; lb_verify reads the same config. Neither
may crash on it, or every later reload is blocked."""

import json

import pytest

from lbcheck import count_backends, lb_verify, run_playbook

LATIN1 = "/etc/nginx/conf.d/zz-latin1.conf"
LIVE = "/etc/nginx/conf.d/upstream.conf"
HANDLER = "RUNNING HANDLER [edgeops.nginx_lb.load_balancer : Reload nginx service]"
WORKERS = "pgrep -P $(cat /run/nginx.pid) | sort"


@pytest.fixture(scope="module")
def latin1_conf(host):
    """The file on the host (printf's \\351 is the Latin-1 byte of 'é');
    afterwards it is removed and the role's defaults put back."""
    host.run_expect([0], "printf '# caf\\351: saved by a Latin-1 editor\\n' > %s" % LATIN1)
    assert host.check_output("od -An -c %s | head -1" % LATIN1).split()[:5] == ["#", "c", "a", "f", "351"]
    yield LATIN1
    host.run_expect([0], "rm -f %s" % LATIN1)
    restore = run_playbook("playbooks/site.yml")
    assert restore.returncode == 0, restore.stdout[-3000:]


def _module(host, name, args):
    try:
        return host.ansible("edgeops.nginx_lb." + name, json.dumps(args), check=False)
    except host.ansible.AnsibleException as exc:
        return exc.result


def test_nginx_validate_accepts_the_live_config_with_a_latin1_include(host, latin1_conf):
    result = _module(host, "nginx_validate", {"path": "/etc/nginx/nginx.conf"})
    assert result.get("failed") is not True, result.get("msg")
    assert result["valid"] is True
    assert "roundrobin" in [upstream["name"] for upstream in result["upstreams"]]


def test_lb_verify_reads_the_live_config_with_a_latin1_include(host, latin1_conf):
    result = lb_verify(host, {"requests": 30})
    assert result.get("passed") is True, result.get("msg")
    assert "/roundrobin" in [location["path"] for location in result["locations"]]


def test_reload_handler_runs_and_nginx_serves_with_a_latin1_include(host, latin1_conf, figure):
    workers_before = host.check_output(WORKERS)
    run = run_playbook("playbooks/site.yml", {"load_balancer_keepalive": 32})
    assert run.returncode == 0, run.stdout[-3000:]
    assert "Put the upstream configuration live, checked by nginx -t" in run.stdout
    assert HANDLER in run.stdout, run.stdout[-3000:]
    assert "keepalive 32;" in host.file(LIVE).content_string
    # A reload renews the workers; the master stays.
    assert host.check_output(WORKERS) != workers_before
    assert host.file(LATIN1).exists
    assert count_backends(host, "/roundrobin", 6) == {"7001": 2, "7002": 2, "7003": 2}
    figure("reload with a Latin-1 conf.d comment", "handler ran, workers renewed, /roundrobin answers")
