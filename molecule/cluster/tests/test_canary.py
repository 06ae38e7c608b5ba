"""playbooks/canary.yml on app1 under load (a client in lb1 on /roundrobin,
16 connections): the share measured by lb_verify on /leastconn at each step
is exact for the canary's weight; a canary answering 500s is rolled back.
Afterwards app1 runs release 1 again, as the rest of the cluster."""

import json
import os
import re

import pytest

from deployload import Load, docker_exec, message, run_playbook, served_version

CANARY = "edgeops-cluster-app1"
LBS = ["edgeops-cluster-lb1", "edgeops-cluster-lb2"]
PROGRAM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "deploy_app.py")
COMMON = {"canary_hosts": CANARY, "canary_verify_locations": [{"path": "/leastconn"}]}


def canary_lines(lb):
    """The canary's server lines in every upstream of `lb`."""
    address = docker_exec(CANARY, "hostname", "-i").split()[0]
    conf = docker_exec(lb, "cat", "/etc/nginx/conf.d/upstream.conf")
    return re.findall(r"^\s*server %s:\d+[^;]*;" % re.escape(address), conf, re.M)


@pytest.fixture(scope="module")
def back_to_release_1():
    yield
    run, dummy = run_playbook("playbooks/rolling_deploy.yml", {"app_servers_version": "1",
                                                               "rolling_deploy_verify_locations": [{"path": "/leastconn"}]},
                              limit=CANARY)
    assert run.returncode == 0, run.stdout[-4000:]
    assert served_version(CANARY) == {"1"}


def test_canary_share_is_exact_at_every_step(back_to_release_1):
    with Load(LBS[0], "/roundrobin") as load:
        run, wall = run_playbook("playbooks/canary.yml", dict(COMMON, app_servers_version="2"))
    assert run.returncode == 0, run.stdout[-6000:]
    steps = json.loads(message(run, r"passed every step: (\[.*\])\Z").group(1))
    print("canary 2: %d requests, %d failed, wall %.1f s, steps %s" % (
        load.result["sent"], load.result["failed"], wall,
        [(s["step"], s["weight"], s["responses"], s["errors"]) for s in steps]))
    # Peers' weight: the highest of app2 (1) and app3 (2); a step below one whole weight is 1.
    assert [(int(s["step"]), int(s["weight"])) for s in steps] == [(5, 1), (25, 1), (50, 1), (100, 2)]
    for step in steps:
        assert step["verified"] == [True, True], step  # lb_verify exact on both LBs
        assert int(step["errors"]) == 0 and int(step["responses"]) > 0, step
        assert step["shares"] and all(int(s["value"]) > 0 for s in step["shares"]), step
    assert load.result["failed"] == 0, load.failures()
    assert set(load.versions()) == {"1", "2"}
    assert served_version(CANARY) == {"2"}
    for lb in LBS:  # back at the role's weight (1), in rotation
        assert len(canary_lines(lb)) == 9 and not any("down" in line for line in canary_lines(lb)), canary_lines(lb)


def test_a_canary_answering_500_is_rolled_back(back_to_release_1):
    bad = dict(COMMON, app_servers_version="2-bad", app_servers_program=PROGRAM, app_servers_command=[
        "{python}", "{release}/deploy_app.py", "--mode=errors", "--bind={bind}", "--port={port}",
        "--version={version}", "--health-path={health_path}"])
    with Load(LBS[0], "/roundrobin") as load:
        run, wall = run_playbook("playbooks/canary.yml", bad)
    print("canary 2-bad: %d requests, %d failed (the canary's 500s), wall %.1f s, failures %s" % (
        load.result["sent"], load.result["failed"], wall, load.failures()))
    assert run.returncode != 0
    reason = message(run, r"canary %s rolled back to (\S+) and enabled again: canary %s at 5 %%: error rate ([0-9.]+) %%"
                          r"(?s:.*)\sis above canary_error_threshold 1.0 %%" % (CANARY, CANARY))
    assert reason, run.stdout[-6000:]
    assert reason.group(1) == "2" and float(reason.group(2)) > 1.0
    assert served_version(CANARY) == {"2"}
    assert set(load.failures()) <= {"status 500"}, load.failures()  # only the canary's 500s
    for lb in LBS:
        assert not any("down" in line or "weight=" in line for line in canary_lines(lb)), canary_lines(lb)
