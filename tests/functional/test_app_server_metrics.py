"""The app server's GET /metrics: its own request counters in Prometheus'
text format, run as the unit runs it (one process per port, loopback only)."""

import http.client
import re
import signal
import socket

import pytest

from helpers.processes import start_app_server

SAMPLE = re.compile(r'\Aapp_server_requests_total\{port="(?P<port>[0-9]+)",status="(?P<status>[0-9]{3})"\} '
                    r'(?P<value>[0-9]+)\Z')


@pytest.fixture()
def app():
    """A fresh process per test: the counters start at zero."""
    proc, port = start_app_server()
    yield port
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=10)


def request(port, path, method="GET"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        return response, response.read().decode()
    finally:
        conn.close()


def scrape(port):
    """{status: count} from /metrics; every line is HELP, TYPE or a sample of this port."""
    response, body = request(port, "/metrics")
    assert response.status == 200
    assert response.getheader("Content-Type") == "text/plain; version=0.0.4; charset=utf-8"
    assert body.endswith("\n")
    counts = {}
    lines = body.splitlines()
    assert lines[:2] == [
        "# HELP app_server_requests_total Requests this app server answered, by status "
        "(scrapes of /metrics not counted).",
        "# TYPE app_server_requests_total counter"]
    for line in lines[2:]:
        match = SAMPLE.match(line)
        assert match, line
        assert int(match["port"]) == port
        counts[int(match["status"])] = int(match["value"])
    return counts


def test_nothing_answered_yet(app):
    assert scrape(app) == {}


def test_counts_each_answered_request_by_status_and_not_the_scrapes(app):
    for dummy in range(7):
        assert request(app, "/roundrobin")[0].status == 200
    assert request(app, "/healthz")[0].status == 200
    assert request(app, "/", method="POST")[0].status == 405
    assert scrape(app) == {200: 8, 405: 1}
    assert scrape(app) == {200: 8, 405: 1}  # the scrape above did not count itself


def test_error_responses_before_the_app_are_counted(app):
    with socket.create_connection(("127.0.0.1", app), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 400 ")
    assert scrape(app) == {400: 1}


def test_many_concurrent_clients_are_counted_exactly(app):
    conns = [http.client.HTTPConnection("127.0.0.1", app, timeout=5) for dummy in range(8)]
    try:
        for dummy in range(25):
            for conn in conns:
                conn.request("GET", "/")
            for conn in conns:
                response = conn.getresponse()
                response.read()
                assert response.status == 200
    finally:
        for conn in conns:
            conn.close()
    assert scrape(app) == {200: 200}
