"""The app server program, run as the unit runs it: one process per port."""

import concurrent.futures
import http.client
import json
import signal
import socket
import subprocess
import sys
import time

import pytest

from localnet import free_port, wait_for_port
from paths import ROLES

PROGRAM = ROLES / "app_servers" / "files" / "app_server.py"


def start(*extra):
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(PROGRAM), "--port", str(port), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if not wait_for_port(port):
        proc.kill()
        raise AssertionError("app server did not listen on %d" % port)
    return proc, port


@pytest.fixture(scope="module")
def app():
    proc, port = start()
    yield port
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=10)


def get(port, path="/", headers=None, connection=None):
    conn = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", path, headers=headers or {})
    response = conn.getresponse()
    return response, response.read().decode()


def test_page_has_the_port_and_names_the_backend(app):
    response, body = get(app, "/any/path")
    assert response.status == 200
    assert "<h1>%d</h1>" % app in body
    assert response.getheader("X-Backend") == "%s:%d" % (socket.gethostname(), app)


def test_json_when_asked(app):
    response, body = get(app, headers={"Accept": "application/json"})
    data = json.loads(body)
    assert response.getheader("Content-Type") == "application/json"
    assert data["port"] == app and data["host"] == socket.gethostname() and data["time"]


def test_healthz(app):
    response, body = get(app, "/healthz")
    assert (response.status, body) == (200, "ok\n")


@pytest.mark.parametrize("host_header", ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>'])
def test_reflected_host_is_escaped(app, host_header):
    dummy, body = get(app, headers={"Host": host_header})
    assert host_header not in body
    assert "&lt;" in body and "<script>" not in body and "<img" not in body


def test_keep_alive_serves_many_requests_on_one_connection(app):
    conn = http.client.HTTPConnection("127.0.0.1", app, timeout=5)
    conn.connect()
    local = conn.sock.getsockname()
    for dummy in range(20):
        response, dummy = get(app, connection=conn)
        assert response.status == 200 and not response.will_close
    assert conn.sock.getsockname() == local


def test_concurrent_requests_all_succeed(app):
    with concurrent.futures.ThreadPoolExecutor(50) as pool:
        statuses = list(pool.map(lambda _: get(app)[0].status, range(200)))
    assert statuses == [200] * 200


def test_latency_option_delays_responses():
    proc, port = start("--latency-ms", "150")
    try:
        started = time.perf_counter()
        get(port)
        assert time.perf_counter() - started >= 0.15
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def test_sigterm_stops_cleanly():
    proc, port = start()
    get(port)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    assert "stopped" in proc.stdout.read()
