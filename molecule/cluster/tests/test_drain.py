"""edgeops.nginx_lb.upstream_server on the cluster's first load balancer:
a drain while 20 requests with 10 s of app latency are in flight, disable,
weight, enable, named errors, and the rule for a site.yml re-run. Every
request is sent inside the load balancer to its own loopback, bounded in
count and time; every test leaves the cluster as it found it."""

import json
import os
import re
import subprocess
import time

import pytest
import yaml

from lbcheck import container_address, count_backends, docker_sh, lb_conf, recap, run_playbook, upstream_block

# Acts from the first load balancer's test only (the back_to_the_variables fixture).
testinfra_hosts = ["lb"]


def _inventory():
    """The scenario's hosts by group (container names) and each app host's app_servers_weight."""
    path = os.environ["MOLECULE_INVENTORY_FILE"]
    with open(path) as stream:
        data = yaml.safe_load(stream)
    groups = {group: sorted((data.get(group) or data["all"]["children"][group])["hosts"]) for group in ("lb", "app")}
    weights = {}
    for name in groups["app"]:
        host_vars = os.path.join(os.path.dirname(path), "host_vars", name)
        with open(host_vars) if os.path.exists(host_vars) else open(os.devnull) as stream:
            weights[name] = int((yaml.safe_load(stream) or {}).get("app_servers_weight", 1))
    return groups, weights


GROUPS, WEIGHT = _inventory()
(LB1, LB2), APP_HOSTS = GROUPS["lb"], GROUPS["app"]
PORTS = ["7001", "7002", "7003"]
SLOW_HOST, SLOW_PORT = APP_HOSTS[0], "7001"
LATENCY_MS = 10000
IN_FLIGHT = 20
# Round robin over nine servers (total weight 12 in the cluster): 240
# requests put exactly 20 on app1:7001 (one weight unit), the slow one.
REQUESTS = IN_FLIGHT * len(PORTS) * sum(WEIGHT.values()) // WEIGHT[SLOW_HOST]
ENV_FILE = "/etc/edgeops/app-server/%s.env" % SLOW_PORT

# Runs inside the LB: REQUESTS GETs of /roundrobin, each on its own
# connection, 48 at a time, bounded by a 60 s deadline and 30 s per request;
# a marker file once all but the slow ones are answered; then the results.
CLIENT = r'''
import concurrent.futures, http.client, json, sys, threading, time
total, slow, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
done, lock, deadline = [], threading.Lock(), time.monotonic() + 60
def get(index):
    started = time.time()
    try:
        if time.monotonic() > deadline:
            raise TimeoutError("deadline")
        conn = http.client.HTTPConnection("127.0.0.1", 80, timeout=30)
        conn.request("GET", "/roundrobin?drain-load=%d" % index)
        response = conn.getresponse()
        response.read()
        conn.close()
        result = [response.status, response.getheader("X-Backend"), started, time.time()]
    except Exception as exc:
        result = ["error %s" % type(exc).__name__, None, started, time.time()]
    with lock:
        done.append(result)
        if len(done) == total - slow:
            open(out + ".dispatched", "w").close()
with concurrent.futures.ThreadPoolExecutor(48) as pool:
    list(pool.map(get, range(total)))
with open(out + ".tmp", "w") as handle:
    json.dump(done, handle)
import os; os.rename(out + ".tmp", out)
'''


def address_of(name, port):
    return "%s:%s" % (container_address(name), port)


def upstream_server(lb, check=False, **args):
    """The module's result on the load balancer `lb` (ad hoc, as a task would run it), failed or not."""
    text = " ".join("%s=%s" % item for item in args.items())
    try:
        return lb.ansible("edgeops.nginx_lb.upstream_server", text, check=check)
    except lb.ansible.AnsibleException as exc:
        return exc.result


def state_file():
    return docker_sh(LB1, "cat /var/lib/edgeops_nginx_lb/upstream_state.json 2>/dev/null || true")


@pytest.fixture
def back_to_the_variables(host):
    """Only on the first load balancer; afterwards every server the state
    file still names is back to the role's variables there."""
    if host.backend.get_hostname() != LB1:
        pytest.skip("acts on the first load balancer only")
    yield
    left = json.loads(state_file() or '{"upstreams": {}}')["upstreams"]
    for upstream, servers in left.items():
        for address in servers:
            upstream_server(host, upstream=upstream, server=address, state="enabled")
    assert json.loads(state_file() or '{"upstreams": {}}') == {"upstreams": {}}
    assert lb_conf(LB1) == lb_conf(LB2)


@pytest.fixture
def slow_server(back_to_the_variables):
    """app1:7001 answers after LATENCY_MS (its instance setting), for the test only."""
    original = docker_sh(SLOW_HOST, "cat %s" % ENV_FILE)
    slowed = re.sub(r"(?m)^APP_SERVER_LATENCY_MS=.*$", "APP_SERVER_LATENCY_MS=%d" % LATENCY_MS, original)
    assert slowed != original
    restart_slow_instance(slowed)
    yield address_of(SLOW_HOST, SLOW_PORT)
    restart_slow_instance(original)


def restart_slow_instance(settings):
    """With `settings`, and listening again before the load starts: a
    connection refused would take it out of rotation for nginx's fail_timeout."""
    docker_sh(SLOW_HOST, "cat > %s && systemctl restart app-server@%s" % (ENV_FILE, SLOW_PORT), stdin=settings)
    docker_sh(SLOW_HOST, "for try in $(seq 100); do ss -Htln | grep -q ':%s ' && exit 0; sleep 0.1; done; exit 1"
              % SLOW_PORT)


def access_log_lines(marker):
    # The access log is buffered (flush=1s).
    time.sleep(2)
    return [line for line in docker_sh(LB1, "cat /var/log/nginx/edgeops_lb.access.log").splitlines()
            if marker in line]


def test_drain_waits_for_twenty_slow_requests_in_flight(host, slow_server, figure):
    out = "/tmp/drain_load.json"
    docker_sh(LB1, "rm -f %s %s.dispatched && cat > /tmp/drain_client.py" % (out, out), stdin=CLIENT)
    subprocess.run(["docker", "exec", "-d", LB1, "python3", "/tmp/drain_client.py", str(REQUESTS), str(IN_FLIGHT),
                    out], check=True, timeout=30)
    deadline = time.monotonic() + 30
    while docker_sh(LB1, "test -e %s.dispatched && echo yes || true" % out).strip() != "yes":
        assert time.monotonic() < deadline, "the load client did not get its fast answers in 30 s"
        time.sleep(0.2)
    began = time.time()
    result = upstream_server(host, upstream="roundrobin", server=slow_server, state="drained", timeout=30)
    returned = time.time()
    deadline = time.monotonic() + 45
    while not docker_sh(LB1, "cat %s 2>/dev/null || true" % out).strip():
        assert time.monotonic() < deadline, "the load client did not finish"
        time.sleep(0.5)
    answers = json.loads(docker_sh(LB1, "cat %s" % out))
    failed = [a for a in answers if a[0] != 200]
    slow = [a for a in answers if a[1] == "%s:%s" % (SLOW_HOST, SLOW_PORT)]
    drain = result.get("drain") or {}
    figure("drain under load: requests sent / failed", "%d / %d" % (len(answers), len(failed)))
    figure("drain under load: in flight on %s when the drain began" % slow_server, len(slow))
    figure("drain under load: module s / its wait s", "%.1f / %.1f" % (returned - began, drain.get("waited", -1)))
    figure("drain under load: connections / old workers at the start",
           "%d / %d" % (drain.get("connections_at_start", -1), drain.get("old_workers_at_start", -1)))
    assert not result.get("failed"), result
    assert result["changed"] and result["reloaded"] and drain["drained"], result
    assert len(answers) == REQUESTS and not failed, failed
    assert len(slow) == IN_FLIGHT
    # In flight: slow, and answered before the module returned.
    assert all(a[3] - a[2] >= LATENCY_MS / 1000 - 0.5 for a in slow), slow
    assert all(a[3] <= returned for a in slow), (returned, slow)
    assert drain["connections_at_start"] >= IN_FLIGHT and drain["old_workers_at_start"] >= 1
    assert "server %s down;" % slow_server in upstream_block(lb_conf(LB1), "roundrobin")
    assert "server %s;" % slow_server in upstream_block(lb_conf(LB2), "roundrobin")
    # No new request reaches it: 10 rounds more (total weight 11 without it), exact over the other eight.
    rounds = 10 * (len(PORTS) * sum(WEIGHT.values()) - WEIGHT[SLOW_HOST])
    counts = count_backends(host, "/roundrobin?after-drain", rounds, by="host")
    expected = {"%s:%s" % (name, port): 10 * WEIGHT[name] for name in APP_HOSTS for port in PORTS}
    del expected["%s:%s" % (SLOW_HOST, SLOW_PORT)]
    assert counts == expected
    logged = access_log_lines("drain-load")
    assert len([line for line in logged if "upstream=%s " % slow_server in line]) == IN_FLIGHT
    assert not [line for line in access_log_lines("after-drain") if slow_server in line]


def test_disable_weight_enable_and_named_errors(host, back_to_the_variables):
    app2 = [address_of(APP_HOSTS[1], port) for port in PORTS]
    dry = upstream_server(host, check=True, upstream="roundrobin", host=APP_HOSTS[1], state="disabled")
    assert dry["changed"] and not dry["reloaded"] and dry["servers"] == app2
    assert json.loads(state_file() or "{\"upstreams\": {}}") == {"upstreams": {}}
    disabled = upstream_server(host, upstream="roundrobin", host=APP_HOSTS[1], state="disabled")
    assert disabled["changed"] and "drain" not in disabled
    assert not upstream_server(host, upstream="roundrobin", host=APP_HOSTS[1], state="disabled")["changed"]
    counts = count_backends(host, "/roundrobin", 90, by="host")
    assert not [key for key in counts if key.startswith(APP_HOSTS[1])] and sum(counts.values()) == 90
    # Weight 3 for app2's servers, back in rotation: 3+9+6 = 18 per round in the cluster, 10 rounds.
    weighted = upstream_server(host, upstream="roundrobin", host=APP_HOSTS[1], state="enabled", weight=3)
    assert weighted["changed"]
    weights = dict(WEIGHT, **{APP_HOSTS[1]: 3})
    counts = count_backends(host, "/roundrobin", 10 * len(PORTS) * sum(weights.values()), by="host")
    assert counts == {"%s:%s" % (name, port): 10 * weights[name] for name in APP_HOSTS for port in PORTS}
    enabled = upstream_server(host, upstream="roundrobin", host=APP_HOSTS[1], state="enabled")
    assert enabled["changed"] and lb_conf(LB1) == lb_conf(LB2)
    for args, words in [({"upstream": "nope", "server": app2[0]}, "upstream: no upstream 'nope'"),
                        ({"upstream": "roundrobin", "server": "10.255.0.1:7001"}, "server: 10.255.0.1:7001 is not a"),
                        ({"upstream": "roundrobin", "host": LB2}, "host: %s has no" % LB2),
                        ({"upstream": "roundrobin", "server": app2[0], "weight": 5000}, "weight: must be an integer")]:
        before = lb_conf(LB1)
        result = upstream_server(host, **args)
        # The result testinfra reads back (ansible --tree) carried no "failed"
        # key for these refusals: the named message and an unchanged file tell
        # the refusal here; tests/functional/test_upstream_server.py checks the
        # failed status itself.
        assert words in result.get("msg", "") and not result.get("changed"), result
        assert lb_conf(LB1) == before
    assert lb_conf(LB1) == lb_conf(LB2)


def test_site_yml_keeps_what_upstream_server_set(host, back_to_the_variables, figure):
    """The documented rule: a re-run of site.yml keeps a disabled server down
    (and a weight) until state=enabled; it changes nothing on any host."""
    app3 = address_of(APP_HOSTS[2], "7002")
    assert upstream_server(host, upstream="leastconn", server=app3, state="disabled", weight=7)["changed"]
    before = lb_conf(LB1)
    run = run_playbook("playbooks/site.yml")
    assert run.returncode == 0, run.stdout[-3000:]
    changed = {name: counters["changed"] for name, counters in recap(run).items()}
    figure("site.yml re-run after a disable: changed per host", changed)
    assert all(count == 0 for count in changed.values()), changed
    assert lb_conf(LB1) == before and "server %s weight=7 down;" % app3 in upstream_block(before, "leastconn")
    weight = WEIGHT[APP_HOSTS[2]]
    expected = "server %s%s;" % (app3, " weight=%d" % weight if weight != 1 else "")
    assert expected in upstream_block(lb_conf(LB2), "leastconn")
    assert upstream_server(host, upstream="leastconn", server=app3, state="enabled")["changed"]
