"""The cluster, measured from each load balancer: real requests through every
location, counted by the app host and port that answered."""

import os
import shutil
import time

import pytest
import yaml

from lbcheck import (container_address, count_backends, docker_sh, lb_conf, lb_verify, recap, run_playbook,
                     upstream_servers)

# Every test runs on each load balancer; the app hosts are driven with docker.
testinfra_hosts = ["lb"]

APP_HOSTS = ["edgeops-cluster-app1", "edgeops-cluster-app2", "edgeops-cluster-app3"]
PORTS = ["7001", "7002", "7003"]
TCP_PORT = "7101"  # each app host's TCP instance, the stream apptcp's servers
WEIGHT = {"edgeops-cluster-app1": 1, "edgeops-cluster-app2": 1, "edgeops-cluster-app3": 2}


def test_app_servers_bind_their_host_address():
    for name in APP_HOSTS:
        listening = docker_sh(name, "ss -Htln")
        address = container_address(name)
        for port in PORTS:
            assert "%s:%s" % (address, port) in listening, (name, listening)
            assert "127.0.0.1:%s" % port not in listening


def test_every_lb_has_the_identical_config(host):
    assert lb_conf("edgeops-cluster-lb1") == lb_conf("edgeops-cluster-lb2")
    assert len(upstream_servers(host.file("/etc/nginx/conf.d/upstream.conf").content_string, "roundrobin")) == 9


def test_roundrobin_is_exact_over_nine_backends_weighted_by_host(host):
    # 3 hosts x 3 ports, app3's servers weigh 2: total weight 12, 120 requests.
    counts = count_backends(host, "/roundrobin", 120, by="host")
    expected = {"%s:%s" % (name, port): 10 * WEIGHT[name] for name in APP_HOSTS for port in PORTS}
    assert counts == expected


def test_lb_verify_passes_on_every_location(host):
    result = lb_verify(host, {"requests": 120, "clients": 8})
    assert result["passed"] is True, result.get("table")
    assert {r["path"] for r in result["locations"]} == {"/roundrobin", "/leastconn", "/iphash"}


def test_the_tcp_stream_is_exact_over_each_app_hosts_tcp_instance(host):
    result = lb_verify(host, {"streams": [{"name": "apptcp"}], "requests": 120})
    assert result["passed"] is True, result.get("table")
    (stream,) = result["streams"]
    # app3 weighs 2: 30, 30, 60 of 120 connections.
    assert stream["counts"] == {"%s:%s" % (container_address(name), TCP_PORT): 30 * WEIGHT[name] for name in APP_HOSTS}


def wait_until_exact_again(host, seconds=40):
    """nginx keeps a failed peer out for fail_timeout (10 s): lb_verify on
    every location, until it passes again or `seconds` are over."""
    deadline, result = time.monotonic() + seconds, None
    while time.monotonic() < deadline:
        result = lb_verify(host, {"requests": 120, "clients": 8})
        if result["passed"]:
            return result
        time.sleep(2)
    raise AssertionError("not exact again after %d s: %s" % (seconds, result.get("msg")))


@pytest.fixture
def app2_stopped(host):
    """app2's three instances stopped for the test; afterwards started again
    and, on this load balancer, every location exact again."""
    docker_sh("edgeops-cluster-app2", "systemctl stop 'app-server@*'")
    yield "edgeops-cluster-app2"
    docker_sh("edgeops-cluster-app2", "systemctl start %s" % " ".join("app-server@%s" % p for p in PORTS + [TCP_PORT]))
    wait_until_exact_again(host)


def test_a_stopped_app_host_costs_no_client_request(host, app2_stopped):
    counts = count_backends(host, "/roundrobin", 120, by="host")
    assert not [key for key in counts if key.startswith(("error", "status"))], counts
    assert sum(counts.values()) == 120
    assert {key.split(":")[0] for key in counts} == {"edgeops-cluster-app1", "edgeops-cluster-app3"}
    result = lb_verify(host, {"locations": [{"path": "/roundrobin"}], "requests": 120})
    assert result["passed"] is False
    # The three missing backends are named, with no response each.
    address = container_address(app2_stopped)
    for port in PORTS:
        assert " %s:%s:0" % (address, port) in result["msg"], result["msg"]


def site_without_app3(tmp_path):
    """site.yml on the scenario's inventory (with its group_vars and
    host_vars) with app3 out of the `app` group."""
    inventory = os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"])
    copy = str(tmp_path / "inventory")
    shutil.copytree(inventory, copy)
    hosts_file = os.path.join(copy, os.path.basename(os.environ["MOLECULE_INVENTORY_FILE"]))
    with open(hosts_file) as stream:
        data = yaml.safe_load(stream)
    group = data["app"] if "app" in data else data["all"]["children"]["app"]
    del group["hosts"]["edgeops-cluster-app3"]
    with open(hosts_file, "w") as stream:
        yaml.safe_dump(data, stream)
    return run_playbook("playbooks/site.yml", inventory=copy)


def servers_per_upstream():
    """{lb: {upstream: number of servers}} as the two load balancers' live files say."""
    return {name: {upstream: len(upstream_servers(lb_conf(name), upstream))
                   for upstream in ("roundrobin", "leastconn", "iphash")}
            for name in ("edgeops-cluster-lb1", "edgeops-cluster-lb2")}


def assert_lbs_changed_and_apps_not(run):
    """The load balancers change (new file, reload); the app hosts do not."""
    assert run.returncode == 0, run.stdout[-3000:]
    changed = {name: counters["changed"] for name, counters in recap(run).items()}
    assert changed["edgeops-cluster-lb1"] > 0 and changed["edgeops-cluster-lb2"] > 0, changed
    assert all(changed[name] == 0 for name in changed if "-app" in name), changed


@pytest.fixture
def membership(host):
    """The group membership tests run site.yml for the whole cluster: once,
    from the first load balancer's test. Afterwards, pass or fail, all three
    app hosts are back in every upstream (site.yml on the scenario's own
    inventory when a load balancer has fewer than nine servers)."""
    if host.backend.get_hostname() != "edgeops-cluster-lb1":
        pytest.skip("runs the playbook once, from the first load balancer's test")
    yield
    if any(n != 9 for counts in servers_per_upstream().values() for n in counts.values()):
        restore = run_playbook("playbooks/site.yml")
        assert restore.returncode == 0, restore.stdout[-3000:]
    assert servers_per_upstream() == {name: {"roundrobin": 9, "leastconn": 9, "iphash": 9}
                                      for name in ("edgeops-cluster-lb1", "edgeops-cluster-lb2")}


def test_removing_an_app_host_updates_every_lb(membership, tmp_path):
    """A run with app3 left out of the group drops its servers on both LBs."""
    assert_lbs_changed_and_apps_not(site_without_app3(tmp_path))
    for name, counts in servers_per_upstream().items():
        assert counts == {"roundrobin": 6, "leastconn": 6, "iphash": 6}, name


def test_adding_an_app_host_updates_every_lb(membership, tmp_path):
    """From a run without app3, the next run with it back restores all nine."""
    without = site_without_app3(tmp_path)
    assert without.returncode == 0, without.stdout[-3000:]
    assert_lbs_changed_and_apps_not(run_playbook("playbooks/site.yml"))
    for name, counts in servers_per_upstream().items():
        assert counts == {"roundrobin": 9, "leastconn": 9, "iphash": 9}, name
