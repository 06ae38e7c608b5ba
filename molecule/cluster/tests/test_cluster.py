"""The cluster, measured from each load balancer: real requests through every
location, counted by the app host and port that answered."""

import os
import re
import shutil
import subprocess

import pytest
import yaml

from lbcheck import count_backends, lb_verify, recap, run_playbook

# Every test runs on each load balancer; the app hosts are driven with docker.
testinfra_hosts = ["lb"]

APP_HOSTS = ["edgeops-cluster-app1", "edgeops-cluster-app2", "edgeops-cluster-app3"]
PORTS = ["7001", "7002", "7003"]
WEIGHT = {"edgeops-cluster-app1": 1, "edgeops-cluster-app2": 1, "edgeops-cluster-app3": 2}


def docker_exec(name, command):
    """Run `command` in one of the scenario's containers (app or lb) by name."""
    return subprocess.run(["docker", "exec", name, "sh", "-c", command],
                          check=True, capture_output=True, text=True, timeout=60).stdout


def lb_conf(name):
    return docker_exec(name, "cat /etc/nginx/conf.d/upstream.conf")


def upstream_servers(conf, name):
    block = re.search(r"upstream %s \{(.*?)\}" % name, conf, re.S).group(1)
    return re.findall(r"^\s*server (\S+?)[ ;]", block, re.M)


def test_app_servers_bind_their_host_address():
    for name in APP_HOSTS:
        listening = docker_exec(name, "ss -Htln")
        address = docker_exec(name, "hostname -i").split()[0]
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


def test_a_stopped_app_host_costs_no_client_request(host):
    docker_exec("edgeops-cluster-app2", "systemctl stop 'app-server@*'")
    try:
        counts = count_backends(host, "/roundrobin", 120, by="host")
        assert not [key for key in counts if key.startswith(("error", "status"))], counts
        assert sum(counts.values()) == 120
        assert {key.split(":")[0] for key in counts} == {"edgeops-cluster-app1", "edgeops-cluster-app3"}
        result = lb_verify(host, {"locations": [{"path": "/roundrobin"}], "requests": 120})
        assert result["passed"] is False
        # The three missing backends are named, with no response each.
        address = docker_exec("edgeops-cluster-app2", "hostname -i").split()[0]
        for port in PORTS:
            assert " %s:%s:0" % (address, port) in result["msg"], result["msg"]
    finally:
        docker_exec("edgeops-cluster-app2", "systemctl start app-server@7001 app-server@7002 app-server@7003")


@pytest.mark.parametrize("members", [2, 3])
def test_removing_and_adding_an_app_host_updates_every_lb(host, members, tmp_path):
    """A run with app3 left out of the group drops its servers on both LBs;
    the next run with it back restores all nine (run in this order)."""
    if host.backend.get_hostname() != "edgeops-cluster-lb1":
        pytest.skip("runs the playbook once, from the first load balancer's test")
    inventory = os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"])
    if members == 2:
        # The scenario's inventory (with its group_vars and host_vars) with
        # app3 out of the `app` group.
        copy = str(tmp_path / "inventory")
        shutil.copytree(inventory, copy)
        hosts_file = os.path.join(copy, os.path.basename(os.environ["MOLECULE_INVENTORY_FILE"]))
        with open(hosts_file) as stream:
            data = yaml.safe_load(stream)
        group = data["app"] if "app" in data else data["all"]["children"]["app"]
        del group["hosts"]["edgeops-cluster-app3"]
        with open(hosts_file, "w") as stream:
            yaml.safe_dump(data, stream)
        inventory = copy
    run = run_playbook("playbooks/site.yml", inventory=inventory)
    assert run.returncode == 0, run.stdout[-3000:]
    changed = {name: counters["changed"] for name, counters in recap(run).items()}
    # The load balancers change (new file, reload); the app hosts do not.
    assert changed["edgeops-cluster-lb1"] > 0 and changed["edgeops-cluster-lb2"] > 0, changed
    assert all(changed[name] == 0 for name in changed if "-app" in name), changed
    for name in ("edgeops-cluster-lb1", "edgeops-cluster-lb2"):
        for upstream in ("roundrobin", "leastconn", "iphash"):
            assert len(upstream_servers(lb_conf(name), upstream)) == 3 * members
