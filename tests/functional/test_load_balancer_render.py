"""The load_balancer role's rendered configuration, without a host: it reads
back as the same model, nginx -t and gixy accept it, and its locations strip
their prefix the way the tutorial meant (checked against a private nginx)."""

import http.client
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from ansible import constants as C
from ansible.plugins.filter.core import comment

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model_config import model_from_config
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model_vars import model_from_vars
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._nginx_check import check_candidate
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._nginx_conf import parse
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._render import server_args

from helpers.localnet import NGINX, free_port, needs_nginx, wait_for_port
from helpers.paths import COLLECTIONS, ROOT, SEED_UPSTREAM_CONF, tutorial_vars

BIN = Path(sys.executable).parent


def render(tmp_path, **role_vars):
    out = tmp_path / "upstream.conf"
    varfile = tmp_path / "vars.json"
    varfile.write_text(json.dumps(role_vars))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", "localhost,", str(Path(__file__).with_name("render_load_balancer.yml")),
         "-e", "out=%s" % out, "-e", "@%s" % varfile],
        check=False, capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    return proc, (out.read_text() if out.exists() else None)


@pytest.fixture(scope="module")
def default_config(tmp_path_factory):
    proc, text = render(tmp_path_factory.mktemp("render"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return text


def test_rendered_defaults_read_back_as_the_same_model(default_config):
    expected = model_from_vars(*tutorial_vars(), default_keepalive=64, default_zone="64k")
    seen = model_from_config(parse(default_config, "upstream.conf"))
    assert [(u.name, u.method, u.zone, u.keepalive, [server_args(s) for s in u.servers]) for u in seen.upstreams] \
        == [(u.name, u.method, u.zone, u.keepalive, [server_args(s) for s in u.servers]) for u in expected.upstreams]
    assert [(loc.path, loc.upstream, loc.strip_prefix) for loc in seen.locations] \
        == [(loc.path, loc.upstream, loc.strip_prefix) for loc in expected.locations]


def test_rendered_config_starts_with_ansible_managed(default_config):
    """Exactly `{{ ansible_managed | comment }}` first: Ansible's managed string
    (this checkout's ansible.cfg keeps the default) in the comment filter's box."""
    managed = C.config.get_config_value("DEFAULT_MANAGED_STR")
    assert managed == "Ansible managed"
    assert default_config.startswith(comment(managed) + "\n"), default_config[:200]
    assert default_config.splitlines()[:3] == ["#", "# Ansible managed", "#"]


def test_method_line_precedes_servers_and_false_renders_nothing(tmp_path):
    upstreams = [{"name": "h", "method": "ip_hash", "keepalive": 0, "zone": False,
                  "servers": [{"address": "127.0.0.1:7001", "backup": False, "down": False}]}]
    proc, text = render(tmp_path, load_balancer_upstreams=upstreams,
                        load_balancer_locations=[{"path": "/h", "upstream": "h"}])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    block = text[text.index("upstream h {"):]
    block = block[:block.index("}")]
    assert [line.strip() for line in block.splitlines()[1:]] == ["ip_hash;", "server 127.0.0.1:7001;"]


@pytest.mark.parametrize("role_vars, field", [
    ({"load_balancer_upstreams": [{"name": "a", "servers": [{"address": "127.0.0.1:7001", "weight": 0}]}],
      "load_balancer_locations": []}, "load_balancer_upstreams[0].servers[0].weight"),
    ({"load_balancer_locations": [{"path": "/x", "upstream": "missing"}]}, "load_balancer_locations[0].upstream"),
    # The argument spec (a server is a dict) runs before the filter, as in the role.
    ({"load_balancer_upstreams": [{"name": "a", "servers": ["127.0.0.1:7001"]}], "load_balancer_locations": []},
     "load_balancer_upstreams"),
    ({"load_balancer_upstreams": [{"name": "a", "method": "hash", "servers": [{"address": "127.0.0.1:7001"}],
                                   "hash_key": "$request_uri; }\nserver { listen 18088; }"}],
      "load_balancer_locations": []}, "load_balancer_upstreams[0].hash_key"),
])
def test_bad_input_fails_in_preflight_naming_the_field(tmp_path, role_vars, field):
    proc, text = render(tmp_path, **role_vars)
    assert proc.returncode != 0 and text is None
    assert field in proc.stdout + proc.stderr


@needs_nginx
def test_nginx_accepts_the_rendered_defaults(default_config):
    result = check_candidate(default_config, NGINX, shown_name="upstream.conf")
    assert result.valid, result.output


@needs_nginx
def test_nginx_rejects_a_broken_candidate_with_its_own_words():
    result = check_candidate("upstream a { server 127.0.0.1:7001 wieght=2; }\n", NGINX, shown_name="bad.conf")
    assert not result.valid
    assert result.errors[0]["file"] == "bad.conf" and result.errors[0]["line"] == 1
    assert 'invalid parameter "wieght=2"' in result.errors[0]["message"]


def gixy(tmp_path, snippet):
    """gixy's issue counts per severity (its summary; the JSON groups issues)."""
    main = tmp_path / "nginx.conf"
    conf = tmp_path / "snippet.conf"
    conf.write_text(snippet)
    main.write_text("events { }\nhttp {\n    include %s;\n}\n" % conf)
    proc = subprocess.run([str(BIN / "gixy"), str(main)], check=False, capture_output=True, text=True, timeout=60)
    summary = proc.stdout[proc.stdout.index("Total issues:"):]
    counts = {}
    for line in summary.splitlines()[1:]:
        severity, dummy, number = line.strip().partition(":")
        if number.strip().isdigit():
            counts[severity.lower()] = int(number)
    return proc.returncode, counts


@pytest.mark.skipif(not (BIN / "gixy").exists(), reason="gixy-ng is not installed")
def test_gixy_finds_nothing_in_ours_and_six_in_the_tutorials(tmp_path, default_config, figure):
    rc, ours = gixy(tmp_path, default_config)
    rc_theirs, theirs = gixy(tmp_path, SEED_UPSTREAM_CONF.read_text())
    figure("gixy-ng findings in ours", "%d %s" % (sum(ours.values()), ours))
    figure("gixy-ng findings in the tutorial's", "%d %s" % (sum(theirs.values()), theirs))
    assert rc == 0 and sum(ours.values()) == 0
    assert rc_theirs != 0 and (theirs["high"], theirs["medium"]) == (1, 5)


# ---------------------------------------------------------------- private nginx

class _EchoPath(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = self.path.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@needs_nginx
def test_locations_strip_their_prefix_like_the_tutorial(tmp_path):
    backend = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _EchoPath)
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    listen = free_port()
    proc, text = render(tmp_path, load_balancer_listen="127.0.0.1:%d" % listen,
                        load_balancer_access_log=str(tmp_path / "access.log"),
                        load_balancer_upstreams=[{"name": "echo", "servers": [{"address": "127.0.0.1:%d" % backend.server_port}]}],
                        load_balancer_locations=[{"path": "/roundrobin", "upstream": "echo"}])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (tmp_path / "nginx.conf").write_text(
        "pid %s/nginx.pid;\nerror_log %s/error.log;\nevents { }\nhttp {\n include %s/upstream.conf;\n}\n"
        % (tmp_path, tmp_path, tmp_path))
    nginx = subprocess.Popen([NGINX, "-p", str(tmp_path) + "/", "-c", str(tmp_path / "nginx.conf"),
                              "-g", "daemon off; master_process off;"])
    try:
        assert wait_for_port(listen), (tmp_path / "error.log").read_text()

        def get(path):
            conn = http.client.HTTPConnection("127.0.0.1", listen, timeout=5)
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.read().decode()

        assert get("/roundrobin") == (200, "/")
        assert get("/roundrobin/") == (200, "/")
        assert get("/roundrobin/x/y?z=1") == (200, "/x/y?z=1")
        assert get("/roundrobin//x") == (200, "/x")
        assert get("/roundrobinX")[0] == 404
        assert get("/")[0] == 404
    finally:
        nginx.send_signal(signal.SIGTERM)
        nginx.wait(timeout=10)
        backend.shutdown()


@needs_nginx
def test_resolve_on_this_host_s_older_nginx_is_named_before_anything_is_rendered(tmp_path):
    """The role asks the host for its nginx version (host_info) and hands it
    to the lb_model filter: Debian 12's nginx 1.22 has no `resolve`."""
    version = subprocess.run([NGINX, "-v"], capture_output=True, text=True, check=True).stderr
    found = tuple(int(part) for part in version.split("nginx/")[1].split()[0].split("."))
    if found >= (1, 27, 3):
        pytest.skip("this host's nginx %s has resolve" % ".".join(map(str, found)))
    proc, text = render(tmp_path, load_balancer_resolver={"addresses": ["127.0.0.53"]},
                        load_balancer_upstreams=[{"name": "dyn", "servers": [
                            {"address": "dyn.edgeops.test:7001", "resolve": True}]}],
                        load_balancer_locations=[{"path": "/dyn", "upstream": "dyn"}])
    assert proc.returncode != 0 and text is None
    assert ("load_balancer_upstreams[0].servers[0].resolve: needs nginx >= 1.27.3 (upstream servers re-resolved by "
            "DNS), this host has %s" % ".".join(map(str, found))) in " ".join((proc.stdout + proc.stderr).split())
