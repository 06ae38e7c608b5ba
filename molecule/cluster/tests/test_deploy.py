"""playbooks/rolling_deploy.yml under load: a client in lb1 keeps 16
connections busy on /roundrobin for each whole run and counts every response
by status and X-App-Version; lb_verify measures /leastconn, which the load
does not touch, so its counts stay exact."""

import os
import re

import pytest

from deployload import (Load, docker_exec, drain_waits, first_start, last_end, message, run_playbook, served_version,
                        task_times)

APP_HOSTS = ["edgeops-cluster-app1", "edgeops-cluster-app2", "edgeops-cluster-app3"]
LBS = ["edgeops-cluster-lb1", "edgeops-cluster-lb2"]
PROGRAM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "deploy_app.py")
VERIFY = {"rolling_deploy_verify_locations": [{"path": "/leastconn"}]}


def down_servers(lb):
    return re.findall(r"^\s*server (\S+) [^;]*\bdown\b", docker_exec(lb, "cat", "/etc/nginx/conf.d/upstream.conf"),
                      re.M)


def test_rolling_deploy_v1_to_v2_fails_no_request():
    assert {v for h in APP_HOSTS for v in served_version(h)} == {"1"}
    with Load(LBS[0], "/roundrobin") as load:
        run, wall = run_playbook("playbooks/rolling_deploy.yml", dict(VERIFY, app_servers_version="2"))
    assert run.returncode == 0, run.stdout[-6000:]
    times = task_times(run)
    drained, enabled = first_start(times, "Drain this host"), last_end(times, "Enable this host")
    print("rolling deploy 1 -> 2: %d requests, %d failed, wall %.1f s, drain waits %s s, by version %s" % (
        load.result["sent"], load.result["failed"], wall, drain_waits(run), load.versions()))
    assert load.result["failed"] == 0, load.failures()
    assert load.result["sent"] > 500
    before, after = load.versions(before=drained), load.versions(after=enabled + 1)
    assert set(before) == {"1"} and before["1"] > 0, before
    assert set(after) == {"2"} and after["2"] > 0, after
    assert len(drain_waits(run)) == 3 * 2 * 3  # 3 hosts x 2 LBs x 3 upstreams
    assert all(served_version(h) == {"2"} for h in APP_HOSTS)
    assert all(down_servers(lb) == [] for lb in LBS)


@pytest.fixture
def broken_v3_then_back():
    yield
    # app1 stayed drained on v3: deploy v2 there again, which enables it.
    run, dummy = run_playbook("playbooks/rolling_deploy.yml", dict(VERIFY, app_servers_version="2"),
                              limit=APP_HOSTS[0])
    assert run.returncode == 0, run.stdout[-4000:]
    assert all(down_servers(lb) == [] for lb in LBS)


def test_broken_v3_stops_at_the_first_host(broken_v3_then_back):
    v3 = dict(VERIFY, app_servers_version="3", app_servers_program=PROGRAM, app_servers_command=[
        "{python}", "{release}/deploy_app.py", "--mode=unhealthy", "--bind={bind}", "--port={port}",
        "--version={version}", "--health-path={health_path}"], rolling_deploy_health_timeout=6)
    with Load(LBS[0], "/roundrobin") as load:
        run, wall = run_playbook("playbooks/rolling_deploy.yml", v3)
    print("broken v3: %d requests, %d failed, wall %.1f s, by version %s" % (
        load.result["sent"], load.result["failed"], wall, load.versions()))
    assert run.returncode != 0
    stopped = message(run, r"rolling deploy stopped at (\S+): health check (http://[^ ,]+)[^;]* did not answer 200"
                           r"(?s:.*);\s+left drained on edgeops-cluster-lb1, edgeops-cluster-lb2;")
    assert stopped, run.stdout[-6000:]
    assert stopped.group(1) == APP_HOSTS[0] and stopped.group(2).endswith(":7001/healthz")
    assert load.result["failed"] == 0, load.failures()
    assert set(load.versions()) == {"2"}  # v3 never served a client
    assert served_version(APP_HOSTS[1]) == served_version(APP_HOSTS[2]) == {"2"}
    app1 = docker_exec(APP_HOSTS[0], "hostname", "-i").split()[0]
    for lb in LBS:
        assert sorted(down_servers(lb)) == sorted("%s:%d" % (app1, p) for p in (7001, 7002, 7003) for dummy in range(3))
