"""A bounded load runs against /roundrobin inside the container while the
play re-runs with a changed upstream (7004 added, 7002 removed, weights
changed): nginx reloads under load and no request fails."""

import json
import os
import subprocess
import time

import pytest

from lbcheck import ROOT, count_backends, default_upstreams, run_playbook

MIN_SECONDS, MAX_SECONDS = 20, 240
STOP_FILE = "/var/tmp/edgeops-load.stop"
# The project's own poller (standard library only), run by the target's python3.
POLLER = os.path.join(ROOT, "plugins", "module_utils", "_http_poll.py")
# In /var/tmp: docker cp writes below the tmpfs that the container mounts on /tmp.
# 4 keep-alive clients, in rounds of one second, for at least MIN_SECONDS and
# until the stop file appears (at most MAX_SECONDS).
LOAD = r'''
import json, os, sys, time
sys.path.insert(0, "/var/tmp")
from _http_poll import poll
least, most, stop_file = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
total = {"requests": 0, "failed": 0, "errors": {}, "retried": 0, "counts": {}, "p99_ms": 0.0}
started = time.monotonic()
while True:
    elapsed = time.monotonic() - started
    if elapsed >= most or (elapsed >= least and os.path.exists(stop_file)):
        break
    result = poll("http://127.0.0.1:80", "/roundrobin", 10 ** 6, concurrency=4, timeout=5, deadline_s=1.0)
    total["requests"] += result.requests
    total["failed"] += result.failed
    total["retried"] += result.retried
    for kind, n in result.errors.items():
        total["errors"][kind] = total["errors"].get(kind, 0) + n
    for label, n in result.counts.items():
        total["counts"][label] = total["counts"].get(label, 0) + n
    total["p99_ms"] = max(total["p99_ms"], result.percentile_ms(0.99) or 0.0)
total["seconds"] = round(time.monotonic() - started, 1)
print(json.dumps(total))
'''

CHANGED = {
    # The load shares /roundrobin with lb_verify, whose exact counts would not hold.
    "nginx_lb_verify": False,
    "app_servers_ports": [7001, 7002, 7003, 7004],
    "load_balancer_upstreams": default_upstreams(roundrobin=[
        {"address": "127.0.0.1:7001"}, {"address": "127.0.0.1:7003", "weight": 3},
        {"address": "127.0.0.1:7004", "weight": 2}]),
}


@pytest.fixture
def defaults_put_back(host):
    """After the test, pass or fail: the tutorial's defaults back (7004
    removed), so every other test finds the scenario as converged."""
    yield
    run = run_playbook("playbooks/site.yml")
    assert run.returncode == 0, run.stdout[-3000:]
    assert not host.service("app-server@7004").is_running
    assert count_backends(host, "/roundrobin", 30) == {"7001": 10, "7002": 10, "7003": 10}


def test_reload_under_load_fails_no_request(host, figure, defaults_put_back):
    name = host.backend.get_hostname()
    subprocess.run(["docker", "cp", POLLER, "%s:/var/tmp/_http_poll.py" % name], check=True, timeout=30)
    host.run_expect([0], "rm -f %s" % STOP_FILE)
    load = subprocess.Popen(["docker", "exec", name, "timeout", str(MAX_SECONDS + 30), "python3", "-c", LOAD,
                             str(MIN_SECONDS), str(MAX_SECONDS), STOP_FILE],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(3)  # the load is running before the change starts
        run = run_playbook("playbooks/site.yml", CHANGED)
        time.sleep(3)  # and still runs after the reload
        host.run_expect([0], "touch %s" % STOP_FILE)
        out, err = load.communicate(timeout=MAX_SECONDS + 60)
    finally:
        if load.poll() is None:
            load.kill()
    assert run.returncode == 0, run.stdout[-3000:]
    assert "RUNNING HANDLER [edgeops.nginx_lb.load_balancer : Reload nginx service]" in run.stdout
    assert load.returncode == 0, err
    result = json.loads(out)
    figure("requests sent under reload", result["requests"])
    figure("requests failed under reload", result["failed"])
    figure("resent on a closed keep-alive connection", result["retried"])
    figure("load seconds, worst p99 ms of a second", (result["seconds"], result["p99_ms"]))
    assert result["seconds"] >= MIN_SECONDS and result["requests"] > 1000
    assert result["failed"] == 0, result["errors"]
    # The new upstream served during the run: 7004 answered, so the reload happened under load.
    assert any(label.endswith(":7004") for label in result["counts"]), result["counts"]
    # After the reload: 7002 is out, weights 1:3:2.
    assert count_backends(host, "/roundrobin", 60) == {"7001": 10, "7003": 30, "7004": 20}
