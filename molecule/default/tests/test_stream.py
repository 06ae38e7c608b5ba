"""TCP and UDP streams, measured inside the container: real
connections and datagrams through nginx's stream module, counted by the
backend that answered its one line. Loopback only, bounded in count and time."""

import json
import time

import pytest

from lbcheck import _quote, lb_verify

N = 20

# Runs on the target's python3: N connections (tcp) or N datagrams, each from
# its own socket (udp), one at a time, bounded by a 60 s deadline; prints
# {"HOST:PORT answered": n, "error X": n}.
_STREAM = r'''
import json, socket, sys, time
protocol, port, n, source = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
counts, deadline = {}, time.monotonic() + 60
for _ in range(n):
    if time.monotonic() > deadline:
        break
    kind = socket.SOCK_STREAM if protocol == "tcp" else socket.SOCK_DGRAM
    try:
        with socket.socket(socket.AF_INET, kind) as sock:
            sock.settimeout(5)
            sock.bind((source if source != "-" else "0.0.0.0", 0))
            sock.connect(("127.0.0.1", port))
            if protocol == "udp":
                sock.send(b"hello\n")
            key = sock.recv(512).decode().strip() or "error empty"
    except Exception as exc:
        key = "error %s" % type(exc).__name__
    counts[key] = counts.get(key, 0) + 1
print(json.dumps(counts))
'''


def count(host, protocol, port, number, source="-"):
    """{backend port: answers} (or 'error X') of `number` connections or datagrams."""
    result = host.run("python3 -c %s %s %d %d %s" % (_quote(_STREAM), protocol, port, number, source))
    assert result.rc == 0, result.stderr
    counts = {}
    for key, seen in json.loads(result.stdout).items():
        label = key.rsplit(":", 1)[1] if not key.startswith("error") else key
        counts[label] = counts.get(label, 0) + seen
    return counts


def test_stream_module_file_and_instances(host):
    assert host.package("libnginx-mod-stream").is_installed
    conf = host.file("/etc/nginx/stream.d/edgeops_stream.conf")
    assert conf.contains("Ansible managed") and conf.contains("zone tcp_weighted 64k")
    assert conf.contains("listen 9053 udp") and conf.contains("proxy_responses 1")
    assert host.file("/etc/nginx/nginx.conf").contains("include /etc/nginx/stream.d/\\*.conf")
    for port in (9101, 9102, 9103, 9201, 9202, 9203):
        unit = host.service("app-server@%d" % port)
        assert unit.is_running and unit.is_enabled, port
    assert host.file("/etc/edgeops/app-server/9201.env").contains("APP_SERVER_MODE=udp")
    assert host.run("nginx -t").rc == 0


def test_tcp_round_robin_is_exactly_even(host):
    assert count(host, "tcp", 9000, 3 * N) == {"9101": N, "9102": N, "9103": N}


def test_tcp_weighted_is_exactly_two_one_one(host):
    assert count(host, "tcp", 9001, 4 * N) == {"9101": 2 * N, "9102": N, "9103": N}


def test_udp_round_robin_is_exactly_even(host):
    assert count(host, "udp", 9053, 3 * N) == {"9201": N, "9202": N, "9203": N}


def test_hash_remote_addr_consistent_sticks_per_client_address(host):
    seen = set()
    for net in range(1, 9):
        counts = count(host, "tcp", 9002, 5, source="127.0.%d.1" % net)
        assert len(counts) == 1 and list(counts.values()) == [5], counts
        seen |= set(counts)
    assert len(seen) > 1, seen


def test_access_log_names_the_backend(host):
    count(host, "tcp", 9000, 3)
    log = host.file("/var/log/nginx/edgeops_stream.access.log")
    assert log.exists and "upstream=127.0.0.1:910" in log.content_string


def test_lb_verify_checks_every_stream_exactly(host):
    result = lb_verify(host, {"streams": [{"name": "tcp_rr"}, {"name": "tcp_weighted"}, {"name": "tcp_hash"},
                                          {"name": "udp_rr"}], "requests": 120, "clients": 8})
    assert result["passed"] is True, result.get("msg")
    by_name = {s["upstream"]: s for s in result["streams"]}
    assert by_name["tcp_weighted"]["counts"] == {"127.0.0.1:9101": 60, "127.0.0.1:9102": 30, "127.0.0.1:9103": 30}
    assert by_name["udp_rr"]["counts"] == {"127.0.0.1:9201": 40, "127.0.0.1:9202": 40, "127.0.0.1:9203": 40}
    assert len(by_name["tcp_hash"]["clients"]) == 8
    wrong = lb_verify(host, {"streams": [{"name": "tcp_weighted", "weights": [1, 1, 1]}], "requests": 120})
    assert wrong["passed"] is False
    assert wrong["msg"] == "tcp://127.0.0.1:9001: expected 9101:40 9102:40 9103:40, got 9101:60 9102:30 9103:30"


@pytest.fixture
def tcp_backend_9102_stopped(host):
    """app-server@9102 stopped; afterwards started again and the streams
    exact again (nginx reloaded: its old workers kept the failed peer out for fail_timeout, 10 s)."""
    host.run_expect([0], "systemctl stop app-server@9102")
    yield
    host.run_expect([0], "systemctl start app-server@9102")
    # New workers start with no failed peer (else nginx waits out fail_timeout).
    host.run_expect([0], "systemctl reload nginx")
    deadline, result = time.monotonic() + 40, None
    while time.monotonic() < deadline:
        result = lb_verify(host, {"streams": [{"name": "tcp_rr"}], "requests": 60})
        if result["passed"]:
            break
        time.sleep(2)
    assert result["passed"] is True, result.get("msg")


def test_killed_tcp_backend_new_connections_succeed_on_the_others(host, tcp_backend_9102_stopped):
    # proxy_next_upstream (on in the stream module): the refused connection
    # is retried on the next server, the client sees no error.
    counts = count(host, "tcp", 9000, 3 * N)
    assert set(counts) == {"9101", "9103"} and sum(counts.values()) == 3 * N, counts
