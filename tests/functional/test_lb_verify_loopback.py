"""lb_verify and its poller against loopback servers: the role's own app
server in-process, a raw keep-alive server that closes connections, a
private nginx in front of three backends, and the module run as Ansible runs
it. Loopback only; every server started here is stopped; every poll is
bounded in count and time."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._http_poll import poll
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model_config import model_from_config
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._nginx_conf import parse
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._verify import table, verify

from helpers.localnet import NGINX, free_port, needs_nginx, wait_for_port
from helpers.paths import COLLECTION_LINK, COLLECTIONS
from helpers.processes import load_app_server


APP = load_app_server()


def start_backend(latency_ms=0):
    server = APP.AppServer(("127.0.0.1", 0), latency_ms=latency_ms)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_poll_counts_backends_by_header_and_by_body():
    backend = start_backend()
    try:
        url = "http://127.0.0.1:%d" % backend.server_port
        by_header = poll(url, "/", 50, concurrency=4)
        assert by_header.counts == {backend.backend: 50} and by_header.failed == 0
        by_body = poll(url, "/", 10, backend_regex=r"<h1>(\d+)</h1>")
        assert by_body.counts == {str(backend.server_port): 10}
    finally:
        backend.shutdown()


def test_poll_counts_connection_failures_and_stops_at_the_deadline():
    refused = poll("http://127.0.0.1:%d" % free_port(), "/", 5, timeout=1)
    assert refused.requests == 5 and refused.failed == 5 and refused.counts == {}
    slow = start_backend(latency_ms=200)
    try:
        bounded = poll("http://127.0.0.1:%d" % slow.server_port, "/", 1000, deadline_s=0.5)
        assert bounded.deadline_hit and bounded.requests < 10
    finally:
        slow.shutdown()


def closing_keepalive_server(every):
    """A raw HTTP/1.1 server that promises keep-alive but closes the
    connection, unannounced, after every `every` responses (as an nginx
    reload closes idle keep-alive connections). Returns (port, stop)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    stopping = threading.Event()
    response = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Backend: raw:1\r\n\r\nok"

    def serve(conn):
        with conn:
            conn.settimeout(2)
            for dummy in range(every):
                try:
                    if not conn.recv(4096):
                        return
                    conn.sendall(response)
                except OSError:
                    return
            # Wait for the next request, then drop it unanswered.
            try:
                conn.recv(4096)
            except OSError:
                pass

    def accept():
        while not stopping.is_set():
            try:
                conn, dummy = listener.accept()
            except socket.timeout:
                continue
            threading.Thread(target=serve, args=(conn,), daemon=True).start()
        listener.close()

    threading.Thread(target=accept, daemon=True).start()
    return listener.getsockname()[1], stopping.set


@pytest.mark.parametrize("every, concurrency", [(1, 1), (5, 1), (5, 4)])
def test_poll_resends_a_get_whose_idle_keepalive_connection_was_closed(every, concurrency):
    port, stop = closing_keepalive_server(every)
    try:
        polled = poll("http://127.0.0.1:%d" % port, "/", 40, concurrency=concurrency, timeout=2, deadline_s=20)
    finally:
        stop()
    assert polled.failed == 0, polled.errors
    assert polled.counts == {"raw:1": 40}
    assert polled.retried >= 40 // (every + 1) - concurrency


def test_poll_does_not_resend_on_a_fresh_connection():
    """A server that drops every request unanswered: one try each, all failed."""
    port, stop = closing_keepalive_server(0)
    try:
        polled = poll("http://127.0.0.1:%d" % port, "/", 6, timeout=2, deadline_s=20)
    finally:
        stop()
    assert polled.failed == 6 and polled.retried == 0


@pytest.fixture(scope="module")
def private_lb(tmp_path_factory):
    """nginx on a loopback port in front of three loopback backends; the
    third is slow (50 ms) for the least_conn case."""
    tmp = tmp_path_factory.mktemp("lb")
    backends = [start_backend(), start_backend(), start_backend(latency_ms=50)]
    ports = [b.server_port for b in backends]
    listen = free_port()
    servers = "".join("server 127.0.0.1:%d%s; " % (p, w) for p, w in zip(ports, [" weight=2", "", ""]))
    even = "".join("server 127.0.0.1:%d; " % p for p in ports)
    config = """pid {tmp}/nginx.pid; error_log {tmp}/error.log; worker_processes 2;
events {{ }}
http {{
  access_log off;
  upstream weighted {{ zone weighted 64k; {servers} keepalive 8; }}
  upstream fast {{ zone fast 64k; {fast} keepalive 8; }}
  upstream iphash {{ ip_hash; zone iphash 64k; {even} }}
  upstream leastconn {{ least_conn; zone leastconn 64k; {even} keepalive 8; }}
  server {{
    listen 127.0.0.1:{listen};
    proxy_http_version 1.1; proxy_set_header Connection "";
    location /weighted/ {{ rewrite ^/weighted(/.*)$ $1 break; proxy_pass http://weighted; }}
    location /fast/ {{ rewrite ^/fast(/.*)$ $1 break; proxy_pass http://fast; }}
    location /iphash/ {{ rewrite ^/iphash(/.*)$ $1 break; proxy_pass http://iphash; }}
    location /leastconn/ {{ rewrite ^/leastconn(/.*)$ $1 break; proxy_pass http://leastconn; }}
  }}
}}
""".format(tmp=tmp, servers=servers, fast="".join("server 127.0.0.1:%d; " % p for p in ports[:2]), even=even,
           listen=listen)
    (tmp / "nginx.conf").write_text(config)
    nginx = subprocess.Popen([NGINX, "-p", str(tmp) + "/", "-c", str(tmp / "nginx.conf"), "-g", "daemon off;"])
    assert wait_for_port(listen), (tmp / "error.log").read_text()
    yield {"url": "http://127.0.0.1:%d" % listen, "ports": ports, "conf": tmp / "nginx.conf", "backends": backends}
    nginx.send_signal(signal.SIGTERM)
    nginx.wait(timeout=10)
    for backend in backends:
        backend.shutdown()


@needs_nginx
def test_verify_against_real_nginx(private_lb):
    model = model_from_config(parse(private_lb["conf"].read_text(), "nginx.conf"))
    results = verify(model, private_lb["url"], [{"path": "/weighted/"}, {"path": "/iphash/"}], 120, clients=8)
    print("\n".join(table(results)))
    assert all(r.passed for r in results), [r.problems for r in results]
    p1, p2, p3 = ("127.0.0.1:%d" % p for p in private_lb["ports"])
    assert results[0].counts == {p1: 60, p2: 30, p3: 30}
    assert len(results[1].clients) == 8


@needs_nginx
def test_verify_finds_a_wrong_expectation_and_the_slow_backend(private_lb, figure):
    model = model_from_config(parse(private_lb["conf"].read_text(), "nginx.conf"))
    wrong = verify(model, private_lb["url"], [{"path": "/weighted/", "weights": [1, 1, 1]}], 120)[0]
    p1, p2, p3 = private_lb["ports"]
    assert wrong.problems == ["/weighted/: expected %d:40 %d:40 %d:40, got %d:60 %d:30 %d:30" % (p1, p2, p3, p1, p2, p3)]
    slow = "%d" % private_lb["ports"][2]
    lc = verify(model, private_lb["url"], [{"path": "/leastconn/", "slow_backend": slow}], 300, concurrency=8)[0]
    figure("least_conn, slow backend %s, concurrency 8" % slow, lc.counts)
    assert lc.passed, lc.problems


@needs_nginx
def test_lb_verify_module_speed_on_one_location(private_lb, figure):
    """Issue 3 asks for lb_verify's requests/s: 10,000 requests on one location."""
    env = dict(os.environ, PYTHONPATH=str(COLLECTIONS))
    path = COLLECTION_LINK / "plugins" / "modules" / "lb_verify.py"
    args = {"url": private_lb["url"], "config_path": str(private_lb["conf"]), "requests": 10000, "concurrency": 8,
            "locations": [{"path": "/fast/"}]}
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, str(path)], input=json.dumps({"ANSIBLE_MODULE_ARGS": args}),
                          check=False, capture_output=True, text=True, env=env, timeout=300)
    elapsed = time.perf_counter() - started
    result = json.loads(proc.stdout)
    location = result["locations"][0]
    figure("lb_verify on one location", "%d requests in %.1f s, %s req/s while polling, p50 %s ms p99 %s ms" % (
        location["requests"], elapsed, location["requests_per_s"], location["latency_ms"]["p50"],
        location["latency_ms"]["p99"]))
    assert result["passed"] is True and location["requests"] == 10000 and location["failed"] == 0
    assert sorted(location["counts"].values()) == [5000, 5000]
