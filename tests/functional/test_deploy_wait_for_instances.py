"""How the deploy role (rolling_deploy.yml, canary.yml) waits for an app
host's instances after a release: roles/deploy/tasks/wait_for_instances.yml run
by ansible-playbook against app servers on loopback (HTTP: its health path;
TCP, the app server's --mode tcp: a connect; UDP: not waited for), and the
role's own expressions that sort the published endpoints by protocol."""

import json

import pytest
import yaml

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._group_servers import endpoints
from helpers.localnet import free_port
from helpers.paths import ROLES
from helpers.processes import run_local_playbook, start_app_server

WAIT = """    - name: Wait
      ansible.builtin.include_tasks: %s
""" % (ROLES / "deploy" / "tasks" / "wait_for_instances.yml")


def play(tmp_path, instances, timeout=3):
    return run_local_playbook(tmp_path, "Wait for the instances as the deploy playbooks do", WAIT, {
        "deploy_instances": instances, "deploy_health_path": "/healthz", "deploy_health_timeout": timeout})


@pytest.fixture(scope="module")
def servers():
    """An HTTP instance and a TCP one of the role's app server, stopped by their PIDs."""
    started = [start_app_server(), start_app_server("--mode", "tcp")]
    yield {"http": "127.0.0.1:%d" % started[0][1], "tcp": "127.0.0.1:%d" % started[1][1]}
    for proc, dummy in started:
        proc.terminate()
        proc.wait(timeout=10)


def test_http_by_its_health_path_tcp_by_a_connect_udp_not_at_all(tmp_path, servers):
    """Before: every instance got an HTTP GET, and a TCP instance (one line, then close) failed the deploy."""
    udp = "127.0.0.1:%d" % free_port()  # nothing listens: not waited for
    run = play(tmp_path, [[servers["http"], "http"], [servers["tcp"], "tcp"], [udp, "udp"]])
    assert run.returncode == 0, run.stdout[-4000:]
    assert "ok: [localhost] => (item=%s)" % servers["http"] in run.stdout
    assert "ok: [localhost] => (item=%s)" % servers["tcp"] in run.stdout
    assert udp not in run.stdout


def test_a_tcp_instance_that_does_not_listen_fails_naming_it(tmp_path, servers):
    closed = "127.0.0.1:%d" % free_port()
    run = play(tmp_path, [[servers["http"], "http"], [closed, "tcp"]], timeout=2)
    assert run.returncode != 0
    assert "failed: [localhost] (item=%s)" % closed in run.stdout, run.stdout[-4000:]
    assert "Timeout when waiting for 127.0.0.1:%s" % closed.split(":")[1] in run.stdout


def test_an_http_instance_that_does_not_answer_200_fails(tmp_path, servers):
    """The TCP instance's single line is no HTTP answer: probed as HTTP it fails."""
    run = play(tmp_path, [[servers["tcp"], "http"]], timeout=2)
    assert run.returncode != 0
    assert "failed: [localhost] (item=%s)" % servers["tcp"] in run.stdout, run.stdout[-4000:]


def role_vars():
    with open(ROLES / "deploy" / "vars" / "main.yml", encoding="utf-8") as handle:
        return yaml.safe_load(handle)


EXPRESSIONS = """    - name: Write them
      ansible.builtin.copy:
        content: "{{ {'instances': deploy_instances, 'canary_addresses': deploy_canary_addresses} | to_json }}"
        dest: "{{ out }}"
        mode: "0644"
"""


@pytest.mark.parametrize("bind, local", [("10.0.0.12", None), ("0.0.0.0", "127.0.0.1"), ("127.0.0.1", "127.0.0.1")])
def test_the_role_sorts_the_published_endpoints_by_protocol(tmp_path, bind, local):
    published = endpoints([7001, 7002], bind, 1, default_ipv4="10.0.0.12", tcp_ports=[7101], udp_ports=[7201])
    expressions = role_vars()
    run = run_local_playbook(tmp_path, "The deploy role's expressions", EXPRESSIONS, {
        "app_servers_endpoints": published, "deploy_instances": expressions["deploy_instances"],
        "deploy_canary_addresses": expressions["deploy_canary_addresses"], "out": str(tmp_path / "out.json")})
    assert run.returncode == 0, run.stdout[-4000:]
    found = json.loads((tmp_path / "out.json").read_text())
    at = local or bind
    expected = [["%s:7001" % at, "http"], ["%s:7002" % at, "http"], ["%s:7101" % at, "tcp"], ["%s:7201" % at, "udp"]]
    assert found["instances"] == expected
    remote = "10.0.0.12" if bind != "127.0.0.1" else None
    assert found["canary_addresses"] == (["%s:7001" % remote, "%s:7002" % remote] if remote else [None, None])
