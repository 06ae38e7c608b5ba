"""Three sites on one load balancer (molecule.yml): every request is real,
sent from inside the LB (loopback) or from the client container on the
scenario's own network, and counted by the backend that answered."""

import json
import os
import time

import pytest

from lbcheck import container_address, docker_exec

LB = "edgeops-molecule-sites"
CLIENT = "edgeops-sites-client"
PROBE = open(os.path.join(os.path.dirname(__file__), "siteprobe.py"), encoding="utf-8").read()
SHOP, API, PLAIN = "shop.example.test", "api.example.test", "plain.example.test"


def probe(container, *args, timeout=90):
    return json.loads(docker_exec(container, "python3", "-", *[str(arg) for arg in args], stdin=PROBE,
                                  timeout=timeout))


def ports(counts):
    """{'7001': n, ...} from X-Backend `host:port` labels; other keys as they are."""
    result = {}
    for key, number in counts.items():
        label = key.rsplit(":", 1)[-1] if ":" in key and not key.startswith(("status", "error")) else key
        result[label] = result.get(label, 0) + number
    return result


@pytest.fixture(scope="module")
def lb_address():
    return container_address(LB)


def test_each_site_through_its_own_name_gets_exactly_its_upstreams_share():
    # shop: weights 2,1 over 7001, 7002 (a zone: one balancing state, exact counts); over https,
    # its certificate verified against the name.
    assert ports(probe(LB, "count", "127.0.0.1", 443, SHOP, 1, 60, "/")) == {"7001": 40, "7002": 20}
    assert ports(probe(LB, "count", "127.0.0.1", 443, API, 1, 60, "/")) == {"7003": 60}
    # plain listens with the PROXY protocol only: 60 connections, each with its header.
    counts = probe(LB, "proxied", "127.0.0.1", 8081, PLAIN, "203.0.113.9", 60)
    counts.pop("sender")
    assert ports(counts) == {"7001": 20, "7002": 20, "7003": 20}


def test_sni_returns_each_sites_certificate_and_never_one_for_an_unknown_name():
    assert probe(LB, "cert", "127.0.0.1", 443, SHOP) == SHOP
    assert probe(LB, "cert", "127.0.0.1", 443, API) == API
    assert probe(LB, "cert", "127.0.0.1", 443, "unknown.example.test") == "invalid"


def test_an_unknown_name_gets_421_over_tls_and_a_closed_connection_over_http(lb_address):
    answer = probe(CLIENT, "get", lb_address, 443, "unknown.example.test", 1, "/")
    assert answer["status"] == 421 and "7001" not in answer["body"]
    assert probe(CLIENT, "get", lb_address, 80, "unknown.example.test", 0, "/") == {"status": "closed"}
    # A known name over plain http is sent to https, path kept.
    answer = probe(CLIENT, "get", lb_address, 80, SHOP, 0, "/x?y=1")
    assert answer["status"] == 301 and answer["location"] == "https://shop.example.test/x?y=1"


def test_websocket_echo_through_the_lb():
    answer = probe(LB, "ws", "127.0.0.1", 443, SHOP, 1, "/live/ws", "hello through nginx")
    assert answer["status"] == 101 and answer["accept_ok"], answer
    assert answer["echo"] == "hello through nginx" and answer["close"] == 1000
    assert answer["backend"].rsplit(":", 1)[-1] in ("7001", "7002")


def _gaps(chunks):
    """Arrival times of the chunks that hold an event."""
    return [at for at, text in chunks if "data:" in text]


def test_server_sent_events_arrive_as_sent_only_without_buffering(figure):
    live = _gaps(probe(LB, "events", "127.0.0.1", 443, SHOP, 1, "/live/events"))
    figure("SSE arrival times through buffering: false (s)", live)
    # The events arrive in separate reads spread over the stream's time (the app sends one each 250 ms).
    assert len(live) == 3 and all(later - earlier >= 0.15 for earlier, later in zip(live, live[1:])), live
    # With its proxy buffers on, nginx over TLS holds the small events (its TLS buffer is flushed only
    # by an unbuffered response) until the response ends: all arrive in one read, after the last was sent.
    buffered = _gaps(probe(LB, "events", "127.0.0.1", 443, SHOP, 1, "/buffered/events"))
    figure("SSE arrival times, buffering on (s)", buffered)
    assert len(buffered) == 1 and buffered[0] >= 0.4, buffered


def test_rate_limit_answers_429_to_a_burst(figure):
    statuses = probe(LB, "burst", "127.0.0.1", 443, SHOP, 1, 50, "/limited")
    figure("rate_limit 5r/s burst 5: 50 requests at once -> statuses", statuses)
    assert set(statuses) == {"200", "429"}, statuses
    assert 6 <= statuses["200"] <= 12 and statuses["200"] + statuses["429"] == 50


def test_body_size_allow_list_redirect_and_return(lb_address):
    assert probe(LB, "get", "127.0.0.1", 443, SHOP, 1, "/upload", "POST", 2048)["status"] == 413
    # Within the limit the request reaches the app, whose answer to a POST is 405.
    assert probe(LB, "get", "127.0.0.1", 443, SHOP, 1, "/upload", "POST", 512)["status"] == 405
    # /private allows the loopback only: the client container is another network.
    assert probe(LB, "get", "127.0.0.1", 443, SHOP, 1, "/private")["status"] == 200
    assert probe(CLIENT, "get", lb_address, 443, SHOP, 1, "/private")["status"] == 403
    answer = probe(LB, "get", "127.0.0.1", 443, SHOP, 1, "/old")
    assert answer["status"] == 301 and answer["location"].endswith("/")
    answer = probe(LB, "get", "127.0.0.1", 443, API, 1, "/health")
    assert answer["status"] == 200 and answer["body"] == "ok"


def test_proxy_protocol_puts_the_real_client_in_the_json_log(lb_address):
    counts = probe(CLIENT, "proxied", lb_address, 8081, PLAIN, "203.0.113.9", 3)
    sender = counts.pop("sender")
    assert sum(counts.values()) == 3 and sender != "203.0.113.9"
    # The access log is buffered (flushed every second): wait for the lines, bounded.
    deadline = time.monotonic() + 10
    while True:
        lines = docker_exec(LB, "tail", "-n", "3", "/var/log/nginx/plain.access.log").splitlines()
        entries = [json.loads(line) for line in lines]
        if [entry["remote_addr"] for entry in entries] == ["203.0.113.9"] * 3 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert [entry["remote_addr"] for entry in entries] == ["203.0.113.9"] * 3, entries
    assert all(entry["upstream_addr"].startswith("127.0.0.1:") and entry["status"] == 200 for entry in entries)
    assert sender not in json.dumps(entries)


def test_each_site_has_its_own_private_key():
    for name in ("site_shop", "site_api", "catch_all"):
        assert docker_exec(LB, "stat", "-c", "%a %U", "/etc/nginx/tls/%s.key" % name).strip() == "600 root"
