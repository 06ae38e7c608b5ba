"""The tutorial's promises, measured inside the container: real requests
through every location, counted by the backend that answered."""

import subprocess
import time

import pytest

from lbcheck import count_backends, lb_verify, status

N = 20


def test_app_servers_run_as_the_unprivileged_user(host):
    for port in (7001, 7002, 7003):
        unit = host.service("app-server@%d" % port)
        assert unit.is_running and unit.is_enabled
        pid = host.check_output("systemctl show -p MainPID --value app-server@%d" % port)
        assert host.check_output("ps -o user= -p %s" % pid) == "app-server"
    user = host.user("app-server")
    assert user.exists and user.shell.endswith("nologin") and user.uid < 1000


def test_default_site_is_gone_and_config_is_managed(host):
    assert not host.file("/etc/nginx/sites-enabled/default").exists
    conf = host.file("/etc/nginx/conf.d/upstream.conf")
    assert conf.contains("Ansible managed") and conf.contains("zone weighted")
    assert host.run("nginx -t").rc == 0


def test_roundrobin_is_exactly_even(host):
    assert count_backends(host, "/roundrobin", 3 * N) == {"7001": N, "7002": N, "7003": N}


def test_weighted_is_exactly_two_one_one(host):
    assert count_backends(host, "/weighted", 4 * N) == {"7001": 2 * N, "7002": N, "7003": N}


def test_leastconn_is_even_when_sequential(host):
    assert count_backends(host, "/leastconn", 3 * N) == {"7001": N, "7002": N, "7003": N}


def test_iphash_sticks_to_one_backend(host):
    counts = count_backends(host, "/iphash", 3 * N)
    assert len(counts) == 1 and list(counts.values()) == [3 * N], counts


def test_iphash_spreads_across_client_networks(host):
    seen = set()
    for net in range(1, 9):
        counts = count_backends(host, "/iphash", 5, source="127.0.%d.1" % net)
        assert len(counts) == 1 and list(counts.values()) == [5], counts
        seen |= set(counts)
    assert seen == {"7001", "7002", "7003"}


def test_proxy_reaches_only_7001(host):
    assert count_backends(host, "/proxy", N) == {"7001": N}


@pytest.mark.parametrize("path, expected", [
    ("/roundrobin/healthz", 200), ("/proxy/healthz", 200), ("/roundrobinX", 404), ("/", 404),
])
def test_locations_strip_their_prefix(host, path, expected):
    assert status(host, path) == expected


def test_lb_verify_passes_on_every_location(host):
    result = host.ansible("edgeops.nginx_lb.lb_verify", "requests=120 clients=8", check=False)
    assert result["passed"] is True
    # forky (nginx 1.30) also has a sticky upstream (/sticky) and a name re-resolved by
    # DNS (/dyn: tests/test_resolve_forky.py) besides the tutorial's (molecule.yml).
    extra = ["/dyn", "/sticky"] if host.backend.get_hostname() == "edgeops-molecule-forky" else []
    assert sorted(r["path"] for r in result["locations"]) == sorted(
        ["/iphash", "/leastconn", "/proxy", "/roundrobin", "/weighted"] + extra)
    weighted = next(r for r in result["locations"] if r["path"] == "/weighted")
    assert weighted["counts"] == {"127.0.0.1:7001": 60, "127.0.0.1:7002": 30, "127.0.0.1:7003": 30}


def lb_verify_failure(host, args):
    """The result of an lb_verify run that must fail."""
    result = lb_verify(host, args)
    assert result["passed"] is False and result["msg"], result
    return result


def test_lb_verify_fails_on_a_wrong_expectation(host):
    result = lb_verify_failure(host, {"locations": [{"path": "/weighted", "weights": [1, 1, 1]}], "requests": 120})
    assert result["msg"] == "/weighted: expected 7001:40 7002:40 7003:40, got 7001:60 7002:30 7003:30"


@pytest.fixture
def backend_7002_stopped(host):
    """app-server@7002 stopped for the test; afterwards started again and
    every location exact again (nginx keeps a failed peer out for
    fail_timeout, 10 s, unless reloaded), so no other test sees the skew, in any order."""
    host.run_expect([0], "systemctl stop app-server@7002")
    yield
    host.run_expect([0], "systemctl start app-server@7002")
    # New workers start with no failed peer (else nginx waits out fail_timeout).
    host.run_expect([0], "systemctl reload nginx")
    deadline, result = time.monotonic() + 40, None
    while time.monotonic() < deadline:
        result = lb_verify(host, {"requests": 120, "clients": 8})
        if result["passed"]:
            break
        time.sleep(2)
    assert result["passed"] is True, result.get("msg")


def test_stopped_backend_is_named_and_clients_see_no_error(host, backend_7002_stopped):
    # nginx retries the dead peer's requests on the next one (no client
    # error); the failure skews the sequence by one for a while.
    counts = count_backends(host, "/roundrobin", 3 * N)
    assert set(counts) == {"7001", "7003"} and sum(counts.values()) == 3 * N
    assert all(abs(n - 3 * N / 2) <= 1 for n in counts.values()), counts
    result = lb_verify_failure(host, {"locations": [{"path": "/roundrobin"}], "requests": 60})
    assert result["msg"].startswith("/roundrobin: expected 7001:20 7002:20 7003:20, got 7001:")
    assert " 7002:0 " in result["msg"]


def test_everything_answers_after_the_container_restarts(host):
    name = host.backend.get_hostname()
    # A clean shutdown, as a reboot does: SIGRTMIN+3 is systemd's halt (docker
    # restart's SIGTERM is ignored by systemd, then killed 10 s later).
    for command in (["kill", "--signal", "SIGRTMIN+3", name], ["wait", name], ["start", name]):
        subprocess.run(["docker"] + command, check=True, capture_output=True, timeout=60)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if host.run("systemctl is-system-running").stdout.strip() in ("running", "degraded"):
            break
        time.sleep(1)
    # systemd says a simple unit started before the program has bound its
    # port: wait (bounded) until the three instances listen (on loopback, or
    # on every address where the platform's apps serve other hosts too).
    listening = []
    while time.monotonic() < deadline:
        listening = [port for port in (7001, 7002, 7003)
                     if any(host.socket(spec % port).is_listening for spec in ("tcp://127.0.0.1:%d", "tcp://0.0.0.0:%d"))]
        if len(listening) == 3:
            break
        time.sleep(0.5)
    assert listening == [7001, 7002, 7003], "after the restart only %s listen" % listening
    assert host.service("nginx").is_running
    assert count_backends(host, "/roundrobin", 3 * N) == {"7001": N, "7002": N, "7003": N}
