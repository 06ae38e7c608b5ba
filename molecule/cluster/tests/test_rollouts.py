"""playbooks/rolling_deploy.yml, then playbooks/canary.yml, under load (in
this order: each starts from the release the one before left; and after
test_cluster.py and test_drain.py, which pytest runs first: these leave the
app hosts on releases the inventory does not name, which a site.yml run
would put back): a client in
lb1 keeps 16 connections busy on /roundrobin for each whole run and counts
every response by status and X-App-Version; lb_verify measures /leastconn,
which the load does not touch, so its counts stay exact."""

import json
import os

from deployload import Load, drain_waits, first_start, last_end, message, profiled_playbook, served_version, task_times
from lbcheck import container_address, lb_conf, upstream_servers

APP_HOSTS = ["edgeops-cluster-app1", "edgeops-cluster-app2", "edgeops-cluster-app3"]
TCP_PORT = 7101  # app_servers_tcp_ports of the scenario
LBS = ["edgeops-cluster-lb1", "edgeops-cluster-lb2"]
PROGRAM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "deploy_app.py")
VERIFY = {"rolling_deploy_verify_locations": [{"path": "/leastconn"}]}


def down_servers(lb):
    conf = lb_conf(lb)
    return [server for upstream in ("roundrobin", "leastconn", "iphash")
            for server, rest in upstream_servers(conf, upstream).items() if " down" in rest]


def record(figure, label, load, wall, **more):
    """The load's counts and the play's wall time, as figures the run prints."""
    figure("%s: requests" % label, load.result["sent"])
    figure("%s: failed" % label, "%d %s" % (load.result["failed"], load.failures() or ""))
    figure("%s: by version" % label, load.versions())
    figure("%s: wall s" % label, round(wall, 1))
    for name, value in more.items():
        figure("%s: %s" % (label, name.replace("_", " ")), value)


def test_rolling_deploy_v1_to_v2_fails_no_request(figure):
    assert {v for h in APP_HOSTS for v in served_version(h)} == {"1"}
    with Load(LBS[0], "/roundrobin") as load:
        run, wall = profiled_playbook("playbooks/rolling_deploy.yml", dict(VERIFY, app_servers_version="2"))
    assert run.returncode == 0, run.stdout[-6000:]
    times = task_times(run)
    drained, enabled = first_start(times, "Drain this host"), last_end(times, "Enable this host")
    record(figure, "rolling deploy 1 -> 2", load, wall, drain_waits=drain_waits(run))
    assert load.result["failed"] == 0, load.failures()
    assert load.result["sent"] > 500
    before, after = load.versions(before=drained), load.versions(after=enabled + 1)
    assert set(before) == {"1"} and before["1"] > 0, before
    assert set(after) == {"2"} and after["2"] > 0, after
    assert len(drain_waits(run)) == 3 * 2  # 3 hosts x 2 LBs (the 3 upstreams in one change)
    assert all(served_version(h) == {"2"} for h in APP_HOSTS)
    assert all(down_servers(lb) == [] for lb in LBS)
    # Each host's TCP instance was waited for by a connect (an HTTP request to it fails).
    for name in APP_HOSTS:
        tcp = "%s:%d" % (container_address(name), TCP_PORT)
        assert "ok: [%s] => (item=%s)" % (name, tcp) in run.stdout, run.stdout[-6000:]
        assert "http://%s" % tcp not in run.stdout


def test_broken_v3_stops_at_the_first_host(figure):
    # app1 stays drained on v3: the canary below starts from there.
    v3 = dict(VERIFY, app_servers_version="3", app_servers_program=PROGRAM, app_servers_command=[
        "{python}", "{release}/deploy_app.py", "--mode=unhealthy", "--bind={bind}", "--port={port}",
        "--version={version}", "--health-path={health_path}"], rolling_deploy_health_timeout=6)
    with Load(LBS[0], "/roundrobin") as load:
        run, wall = profiled_playbook("playbooks/rolling_deploy.yml", v3)
    record(figure, "broken v3", load, wall)
    assert run.returncode != 0
    stopped = message(run, r"rolling deploy stopped at (\S+): health check (http://[^ ,]+)[^;]* did not answer 200"
                           r"(?s:.*);\s+left drained on edgeops-cluster-lb1, edgeops-cluster-lb2;")
    assert stopped, run.stdout[-6000:]
    assert stopped.group(1) == APP_HOSTS[0] and stopped.group(2).endswith(":7001/healthz")
    assert load.result["failed"] == 0, load.failures()
    assert set(load.versions()) == {"2"}  # v3 never served a client
    assert served_version(APP_HOSTS[1]) == served_version(APP_HOSTS[2]) == {"2"}
    app1 = container_address(APP_HOSTS[0])
    for lb in LBS:
        assert sorted(down_servers(lb)) == sorted("%s:%d" % (app1, p) for p in (7001, 7002, 7003) for dummy in range(3))


# app1, drained on the broken v3 by the test above: a canary of a good
# release also brings it back. Its peers weigh 1 (app2) and 2 (app3): 50 % of
# 2 is weight 1, 100 % is 2.
CANARY = APP_HOSTS[0]
CANARY_STEPS = {50: 1, 100: 2}


def canary_vars(version, **more):
    return dict(VERIFY, canary_hosts=CANARY, app_servers_version=version, canary_steps=list(CANARY_STEPS),
                canary_verify_locations=VERIFY["rolling_deploy_verify_locations"], **more)


def canary_servers():
    address = container_address(CANARY)
    return ["%s:%d" % (address, port) for port in (7001, 7002, 7003)]


def test_canary_ramps_to_its_weight_with_exact_shares(figure):
    before = {lb: upstream_servers(lb_conf(lb), "leastconn") for lb in LBS}
    peers = served_version(APP_HOSTS[1]) | served_version(APP_HOSTS[2])  # 2, after the rolling deploys
    with Load(LBS[0], "/roundrobin") as load:
        run, wall = profiled_playbook("playbooks/canary.yml", canary_vars("4"))
    assert run.returncode == 0, run.stdout[-6000:]
    passed = message(run, r"canary %s passed every step: (\[.*\])$" % CANARY)
    assert passed, run.stdout[-6000:]
    steps = json.loads(passed.group(1))
    record(figure, "canary 4", load, wall, steps=steps)
    assert load.result["failed"] == 0, load.failures()
    assert set(load.versions()) == peers | {"4"} and load.versions()["4"] > 0
    # 120 requests on /leastconn one at a time (least_conn ties: weighted
    # round robin). Weights app2 3 x 1, app3 3 x 2, the canary 3 x w: each of
    # its servers answers 120 * w / (9 + 3 w) requests, on each LB.
    assert [(int(step["step"]), int(step["weight"])) for step in steps] == list(CANARY_STEPS.items())
    for step in steps:
        weight = int(step["weight"])
        assert step["verified"] == [True, True], step
        assert step["counts"] == {server: 120 * weight // (9 + 3 * weight) for server in canary_servers()}, step
        assert int(step["answered"]) > 0 and int(step["failed"]) == 0, step
    assert served_version(CANARY) == {"4"}
    assert served_version(APP_HOSTS[1]) | served_version(APP_HOSTS[2]) == peers
    # The canary is back at the weight the role's variables give it (1: no
    # weight=), no longer down; its peers' servers as before.
    for lb in LBS:
        after = upstream_servers(lb_conf(lb), "leastconn")
        assert {server: after[server] for server in canary_servers()} == {server: "" for server in canary_servers()}
        assert {k: v for k, v in after.items() if k not in canary_servers()} == \
            {k: v for k, v in before[lb].items() if k not in canary_servers()}
        assert down_servers(lb) == []


def test_canary_with_errors_is_rolled_back(figure):
    before = {lb: upstream_servers(lb_conf(lb), "leastconn") for lb in LBS}
    v5 = canary_vars("5", app_servers_program=PROGRAM, app_servers_command=[
        "{python}", "{release}/deploy_app.py", "--mode=errors", "--bind={bind}", "--port={port}",
        "--version={version}", "--health-path={health_path}"])
    with Load(LBS[0], "/roundrobin") as load:
        run, wall = profiled_playbook("playbooks/canary.yml", v5)
    record(figure, "canary 5 (500 to every other request)", load, wall)
    assert run.returncode != 0
    why = message(run, r"canary %s rolled back to (\S+) and enabled again: at 50 %% \(weight 1\): error rate "
                       r"([0-9.]+) %% \((\d+) of (\d+) responses of [^)]* with status >= 500" % CANARY)
    assert why, run.stdout[-6000:]
    figure("canary 5: the play's reason", why.group(0))
    assert why.group(1) == "4", why.group(1)  # releases/4, what it ran before
    assert 40.0 <= float(why.group(2)) <= 60.0  # every other request
    # Only the canary failed requests, and only with its 500s.
    assert set(load.failures()) <= {"status 500"}, load.failures()
    assert load.result["failed"] > 0
    assert served_version(CANARY) == {"4"}
    assert {lb: upstream_servers(lb_conf(lb), "leastconn") for lb in LBS} == before
    assert all(down_servers(lb) == [] for lb in LBS)
