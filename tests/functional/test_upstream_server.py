"""edgeops.nginx_lb.upstream_server against a private nginx on loopback:
the load_balancer role's preflight and record tasks set it up (as on a load
balancer), ansible-playbook runs the module (its action plugin renders the
role's template), the module reloads this nginx and waits for the requests in
flight. Every request goes to 127.0.0.1, bounded in count and time."""

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from helpers.localnet import NGINX, free_port, needs_nginx, wait_for_port
from helpers.paths import COLLECTIONS, ROOT
from helpers.processes import start_app_server

BIN = Path(sys.executable).parent
PLAYBOOK = Path(__file__).with_name("upstream_server.yml")
LATENCY_MS = 10000
IN_FLIGHT = 20

pytestmark = needs_nginx


def playbook(lb, step, **extra):
    """Run the playbook's `step`; (returncode, output, the module's result or None)."""
    result_file = lb["tmp"] / "result.json"
    if result_file.exists():
        result_file.unlink()
    variables = dict(lb["vars"], step=step, result_file=str(result_file), **extra)
    varfile = lb["tmp"] / "vars.json"
    varfile.write_text(json.dumps(variables))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_NOCOLOR="1")
    proc = subprocess.run([str(BIN / "ansible-playbook"), "-i", "localhost,", str(PLAYBOOK), "--diff",
                           "-e", "@%s" % varfile] + list(lb.get("flags", [])),
                          check=False, capture_output=True, text=True, env=env, cwd=ROOT, timeout=180)
    result = json.loads(result_file.read_text()) if result_file.exists() else None
    return proc.returncode, proc.stdout + proc.stderr, result


def change(lb, *requests, check=False):
    """Run upstream_server once per request (a dict of its parameters), in one play; the results."""
    flags = ["--check"] if check else []
    code, output, results = playbook(dict(lb, flags=flags), "change", requests=list(requests))
    assert code == 0 and results is not None and len(results) == len(requests), output
    return results


def after(result):
    """The upstream configuration after the change, from the module's diff."""
    return result["diff"][1]["after"]


def get(port, path, timeout=15):
    """(status, X-Backend) of one GET through the private nginx."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status, response.getheader("X-Backend")
    finally:
        conn.close()


@pytest.fixture
def lb(tmp_path):
    """nginx on a loopback port whose conf.d file the role's tasks wrote; two
    app servers behind upstream `pool`, the first slow (LATENCY_MS)."""
    yield from _lb(tmp_path)


def _lb(tmp_path, sites=None):
    """The lb fixture's setup; with `sites` (a function of the listen) the
    server blocks are load_balancer_sites instead of the single-site locations."""
    slow, slow_port = start_app_server("--latency-ms", str(LATENCY_MS), "--bind", "127.0.0.1")
    fast, fast_port = start_app_server("--bind", "127.0.0.1")
    listen = free_port()
    conf_d = tmp_path / "conf.d"
    conf_d.mkdir()
    (tmp_path / "nginx.conf").write_text(
        "pid {t}/nginx.pid; error_log {t}/error.log; worker_processes 2;\n"
        "events {{ }}\nhttp {{ include {t}/conf.d/*.conf; }}\n".format(t=tmp_path))
    servers = ["127.0.0.1:%d" % slow_port, "127.0.0.1:%d" % fast_port]
    role_vars = {
        "load_balancer_upstreams": [{"name": "pool", "servers": [{"address": a} for a in servers]},
                                    {"name": "spare", "servers": [{"address": a} for a in servers]}],
        "load_balancer_locations": [{"path": "/pool", "upstream": "pool"}, {"path": "/spare", "upstream": "spare"}],
        "load_balancer_listen": "127.0.0.1:%d" % listen,
        "load_balancer_access_log": str(tmp_path / "access.log"),
        "load_balancer_access_log_buffer": "",
        "load_balancer_conf_path": str(conf_d / "upstream.conf"),
        "load_balancer_nginx_conf": str(tmp_path / "nginx.conf"),
        "load_balancer_nginx_pid": str(tmp_path / "nginx.pid"),
        "load_balancer_state_dir": str(tmp_path / "state"),
    }
    if sites is not None:
        role_vars["load_balancer_sites"] = sites("127.0.0.1:%d" % listen, tmp_path)
        del role_vars["load_balancer_locations"]  # the sites have their own
    lb = {"tmp": tmp_path, "vars": role_vars, "port": listen, "servers": servers}
    code, output, dummy = playbook(lb, "record")
    assert code == 0, output
    nginx = subprocess.Popen([NGINX, "-p", str(tmp_path) + "/", "-c", str(tmp_path / "nginx.conf"),
                              "-g", "daemon off;"])
    assert wait_for_port(listen), (tmp_path / "error.log").read_text()
    yield lb
    nginx.send_signal(signal.SIGTERM)
    nginx.wait(timeout=15)
    for proc in (slow, fast):
        proc.kill()
        proc.wait(timeout=10)


def test_drain_waits_for_the_requests_in_flight(lb, figure):
    slow = lb["servers"][0]
    results, threads = [], []

    def client():
        started = time.monotonic()
        try:
            status, backend = get(lb["port"], "/pool")
        except OSError as exc:
            status, backend = repr(exc), None
        results.append((status, backend, started, time.monotonic()))

    # Round robin over two servers: every other request lands on the slow one.
    for dummy in range(2 * IN_FLIGHT):
        threads.append(threading.Thread(target=client))
        threads[-1].start()
    time.sleep(0.5)
    began = time.monotonic()
    result, = change(lb, {"upstream": "pool", "server": slow, "state": "drained", "timeout": 30})
    returned = time.monotonic()
    for thread in threads:
        thread.join(timeout=LATENCY_MS / 1000 + 15)
    on_slow = [r for r in results if r[1] == slow.replace("127.0.0.1", os.uname()[1])
               or (r[1] or "").endswith(":%s" % slow.rpartition(":")[2])]
    assert not result.get("failed"), result
    figure("requests sent / failed", "%d / %d" % (len(results), sum(1 for r in results if r[0] != 200)))
    figure("in flight on the drained server", result["drain"]["connections_at_start"])
    figure("drain wait s (module)", result["drain"]["waited"])
    assert result["changed"] and result["reloaded"] and result["drain"]["drained"], result
    assert all(r[0] == 200 for r in results), results
    assert len(on_slow) == IN_FLIGHT
    # Every slow request was answered before the module returned.
    assert max(r[3] for r in on_slow) <= returned
    assert result["drain"]["connections_at_start"] == IN_FLIGHT
    # No new request reaches it: 10 more, all on the other server.
    after = [get(lb["port"], "/pool") for dummy in range(10)]
    assert all(status == 200 and not backend.endswith(":%s" % slow.rpartition(":")[2]) for status, backend in after)
    assert "server %s down;" % slow in (lb["tmp"] / "conf.d" / "upstream.conf").read_text()
    state = json.loads((lb["tmp"] / "state" / "upstream_state.json").read_text())
    assert state == {"upstreams": {"pool": {slow: {"state": "drained"}}}}


def test_disable_weight_enable_check_mode_and_named_errors(lb):
    slow, fast = lb["servers"]
    conf = lb["tmp"] / "conf.d" / "upstream.conf"
    state_file = lb["tmp"] / "state" / "upstream_state.json"
    original = conf.read_text()

    dry, = change(lb, {"upstream": "pool", "server": slow, "state": "disabled"}, check=True)
    assert dry["changed"] and not dry["reloaded"] and conf.read_text() == original and not state_file.exists()
    assert "server %s down;" % slow in after(dry)

    results = change(
        lb,
        {"upstream": "pool", "server": slow, "state": "disabled"},
        {"upstream": "pool", "server": slow, "state": "disabled"},
        {"upstream": "pool", "host": "127.0.0.1", "state": "enabled", "weight": 3},
        {"upstream": "pool", "host": "127.0.0.1", "state": "enabled"},
        {"upstream": "nope", "server": slow},
        {"upstream": "pool", "server": "127.0.0.1:1"},
        {"upstream": "pool", "host": "10.9.9.9"},
        {"upstream": "pool", "server": slow, "weight": 0},
        {"upstream": "pool", "server": slow, "state": "disabled"},
        # Both servers down: the model's one check refuses it, by name.
        {"upstream": "pool", "server": fast, "state": "disabled"},
    )
    disabled, again, weighted, enabled = results[:4]
    assert disabled["changed"] and disabled["reloaded"] and "drain" not in disabled
    assert "server %s down;" % slow in after(disabled)
    assert not again["changed"] and not again["reloaded"]
    assert weighted["servers"] == [slow, fast]
    assert "server %s weight=3;" % slow in after(weighted) and "server %s weight=3;" % fast in after(weighted)
    weights = {"upstreams": {"pool": {slow: {"weight": 3}, fast: {"weight": 3}}}}
    assert json.loads(weighted["diff"][0]["after"]) == weights
    assert enabled["changed"] and after(enabled) == original
    assert json.loads(enabled["diff"][0]["after"]) == {"upstreams": {}}
    for failed, words in zip(results[4:8], ["upstream: no upstream 'nope'", "server: 127.0.0.1:1 is not a server of",
                                            "host: 10.9.9.9 has no server in upstream pool",
                                            "weight: must be an integer 1-1000"]):
        assert failed.get("failed") and words in failed["msg"], failed
    assert results[8]["changed"]
    assert results[9].get("failed") and "has no usable server" in results[9]["msg"], results[9]
    assert "server %s;" % fast in conf.read_text() and "server %s down;" % slow in conf.read_text()
    assert json.loads(state_file.read_text()) == {"upstreams": {"pool": {slow: {"state": "disabled"}}}}


def test_several_upstreams_change_with_one_reload(lb):
    slow, fast = lb["servers"]
    conf = lb["tmp"] / "conf.d" / "upstream.conf"
    original = conf.read_text()
    pid = (lb["tmp"] / "nginx.pid").read_text().strip()
    disabled, enabled, missing = change(
        lb,
        {"upstream": ["pool", "spare"], "server": slow, "state": "disabled"},
        {"upstream": ["pool", "spare"], "host": "127.0.0.1", "state": "enabled"},
        {"upstream": ["pool", "nope", "spare"], "server": slow, "state": "disabled"})
    assert disabled["changed"] and disabled["reloaded"] and disabled["servers"] == [slow]
    assert after(disabled).count("server %s down;" % slow) == 2
    assert json.loads(disabled["diff"][0]["after"]) == {
        "upstreams": {"pool": {slow: {"state": "disabled"}}, "spare": {slow: {"state": "disabled"}}}}
    assert enabled["changed"] and enabled["servers"] == [slow, fast] and after(enabled) == original
    assert missing.get("failed") and "upstream: no upstream 'nope'" in missing["msg"], missing
    assert conf.read_text() == original
    # The same master, reloaded (twice: one per change), not restarted.
    assert (lb["tmp"] / "nginx.pid").read_text().strip() == pid
    assert get(lb["port"], "/spare")[0] == 200


def test_a_whole_config_nginx_refuses_leaves_the_live_one(lb):
    slow = lb["servers"][0]
    conf = lb["tmp"] / "conf.d" / "upstream.conf"
    original = conf.read_text()
    (lb["tmp"] / "conf.d" / "zz-broken.conf").write_text("upstream pool { server 127.0.0.1:9; }\n")
    failed, = change(lb, {"upstream": "pool", "server": slow, "state": "drained"})
    assert failed.get("failed") and "previous file is back" in failed["msg"], failed
    assert conf.read_text() == original
    assert not (lb["tmp"] / "state" / "upstream_state.json").exists()
    assert get(lb["port"], "/pool")[0] == 200


@pytest.mark.parametrize("corrupt, words", [
    ('"a string"', "upstream_state.json: must be a dict, got 'a string'"),
    ('{"upstreams": {"pool": "drained"}}', "upstream_state.json: upstreams.pool: must be a dict, got 'drained'"),
    ('{"upstreams": {"pool": {"%(slow)s": "drained"}}}',
     "upstream_state.json: upstreams.pool[%(slow)s]: must be a dict, got 'drained'"),
    ("FIFO", "upstream_state.json is a FIFO, not a regular file"),
], ids=["string", "upstream-string", "server-string", "fifo"])
def test_a_corrupted_state_file_is_named_and_nothing_changes(lb, corrupt, words):
    """A string where the state file has an object crashed the action plugin;
    a FIFO in its place blocked it for ever (the playbook's timeout bounds
    this test)."""
    slow = lb["servers"][0]
    conf = lb["tmp"] / "conf.d" / "upstream.conf"
    original = conf.read_text()
    state_file = lb["tmp"] / "state" / "upstream_state.json"
    if corrupt == "FIFO":
        os.mkfifo(str(state_file))
    else:
        state_file.write_text(corrupt % {"slow": slow})
    started = time.monotonic()
    failed, = change(lb, {"upstream": "pool", "server": slow, "state": "disabled"})
    assert time.monotonic() - started < 60
    assert failed.get("failed") and words % {"slow": slow} in failed["msg"], failed
    assert "Traceback" not in failed["msg"] and "unexpected" not in failed["msg"].lower()
    assert conf.read_text() == original and get(lb["port"], "/pool")[0] == 200


@pytest.mark.parametrize("host", ["::1", "[::1]", "0:0:0:0:0:0:0:1"])
def test_host_takes_the_ipv6_forms_the_docs_allow(lb, host):
    """They were refused as no host; now each is looked for among the
    servers (all on 127.0.0.1 here, so the error names the upstream)."""
    failed, = change(lb, {"upstream": "pool", "host": host, "state": "disabled"})
    assert failed.get("failed") and "host: %s has no server in upstream pool" % host in failed["msg"], failed


def two_sites(listen, tmp_path):
    """Two sites on one listen, both proxying to upstream `pool`."""
    return [{"name": name, "server_names": ["%s.example.test" % name], "listen": [listen],
             "access_log": str(tmp_path / ("%s.log" % name)), "locations": [{"path": "/", "upstream": "pool"}]}
            for name in ("shop", "api")]


@pytest.fixture
def sites_lb(tmp_path):
    yield from _lb(tmp_path, sites=two_sites)


def test_an_upstream_used_by_several_sites_changes_for_all_of_them(sites_lb):
    slow, fast = sites_lb["servers"]

    def backends(name):
        conn = http.client.HTTPConnection("127.0.0.1", sites_lb["port"], timeout=15)
        seen = []
        for dummy in range(4):
            conn.request("GET", "/?fast=1" if dummy else "/", headers={"Host": "%s.example.test" % name})
            response = conn.getresponse()
            response.read()
            seen.append((response.status, response.getheader("X-Backend").rpartition(":")[2]))
        conn.close()
        return seen

    result, = change(sites_lb, {"upstream": "pool", "server": slow, "state": "disabled"})
    assert result["changed"] and result["reloaded"], result
    text = after(result)
    # The re-rendered configuration still holds both sites, and the catch-all.
    assert "server_name shop.example.test;" in text and "server_name api.example.test;" in text
    assert "return 444;" in text
    for name in ("shop", "api"):
        assert backends(name) == [(200, fast.rpartition(":")[2])] * 4


FIND_TEMPLATE = """
import importlib.util, sys
from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder
_AnsibleCollectionFinder(paths=[sys.argv[1]])._install()
spec = importlib.util.spec_from_file_location("upstream_server_action", sys.argv[2])
plugin = importlib.util.module_from_spec(spec)
spec.loader.exec_module(plugin)
print(plugin.role_template("upstream.conf.j2"))
"""


def test_the_action_plugin_finds_the_role_where_the_collection_loader_does(tmp_path):
    """The collection installed elsewhere (its plugins shared, its role's own
    template): the plugin's file in the checkout renders that role's template,
    not the one beside its own file."""
    collection = tmp_path / "ansible_collections" / "edgeops" / "nginx_lb"
    templates = collection / "roles" / "load_balancer" / "templates"
    templates.mkdir(parents=True)
    (templates / "upstream.conf.j2").write_text("# the installed role's template\n")
    (collection / "plugins").symlink_to(ROOT / "plugins")
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "ANSIBLE_COLLECTIONS_PATH")}
    proc = subprocess.run([sys.executable, "-c", FIND_TEMPLATE, str(tmp_path),
                           str(ROOT / "plugins" / "action" / "upstream_server.py")],
                          check=False, capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(templates / "upstream.conf.j2")
