"""lb_verify against hostile input (issue 10): parameters that would drop
servers or crash, weights that leaked between locations, huge bodies,
backends that drip their answer past the deadline, exceptions that killed a
worker silently, credentials in the URL. Loopback only; every server started
here is stopped by its fixture, every poll is bounded in count and time."""

import json
import socket
import threading
import time
import tracemalloc

import pytest

from ansible_collections.edgeops.nginx_lb.plugins.module_utils import _http_poll, _report, _verify
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._balance import expected_counts
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._http_poll import poll
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model import Location, Model, Server, Upstream
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._verify import judge, table, verify

from localnet import free_port
from paths import run_module

P1, P2, P3 = "127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"


def weighted_model():
    """One upstream weighted 2:1:1 behind /a and /b."""
    upstream = Upstream("weighted", servers=[Server(P1, weight=2), Server(P2), Server(P3)])
    return Model(upstreams=[upstream], locations=[Location("/a", "weighted"), Location("/b", "weighted")])


def nginx_like_poll(weights):
    """A stand-in for the poller: the counts nginx gives with `weights`."""
    def fake(url, path, requests, **kwargs):
        counts = dict(zip((P1, P2, P3), expected_counts(weights, requests)))
        return _http_poll.PollResult(requests=requests, counts=counts, latencies_ms=[1.0] * requests,
                                     elapsed_s=0.1)
    return fake


# ------------------------------------------------------------ the model is never changed

def test_weights_of_one_location_do_not_leak_into_the_next():
    model = weighted_model()
    results = verify(model, "http://127.0.0.1", [{"path": "/a", "weights": [1, 1, 1]}, {"path": "/b"}], 120,
                     poll=nginx_like_poll([2, 1, 1]))
    first, second = results
    assert first.problems == ["/a: expected 7001:40 7002:40 7003:40, got 7001:60 7002:30 7003:30"]
    assert second.passed, second.problems
    assert second.expected == {P1: 60, P2: 30, P3: 30}
    assert [s.weight for s in model.upstreams[0].servers] == [2, 1, 1]


def test_weights_override_is_judged_for_its_own_location():
    results = verify(weighted_model(), "http://127.0.0.1", [{"path": "/b"}, {"path": "/a", "weights": [1, 1, 1]}],
                     120, poll=nginx_like_poll([1, 1, 1]))
    assert not results[0].passed and results[1].passed, [r.problems for r in results]


def test_a_server_without_a_port_does_not_crash_the_verdict():
    """A config may say `server app.example;` (port 80 implied)."""
    upstream = Upstream("u", servers=[Server("app.example"), Server(P1)])
    verdict = judge("/u", upstream, {"default": {"7001": 3, "9999": 1}}, "round_robin", resolve=lambda host: set())
    assert "/u: answers from backends not in upstream u: 9999" in verdict.problems


def test_regex_locations_of_a_config_are_named_not_polled():
    model = Model(upstreams=weighted_model().upstreams,
                  locations=[Location("/a", "weighted", modifier=""), Location(r"\.php$", "weighted", modifier="~"),
                             Location("/exact", "weighted", modifier="=")])
    specs, skipped = _verify.locations_from_model(model)
    assert specs == [{"path": "/a", "upstream": "weighted"}, {"path": "/exact", "upstream": "weighted"}]
    assert skipped == [r"location ~ \.php$ (upstream weighted)"]


# ------------------------------------------------------------ parameters, named

GOOD = dict(requests=120, concurrency=1, timeout=5.0, deadline_s=120.0, clients=1, tolerance=1, max_errors=0,
            backend_header="X-Backend", backend_regex=None)


@pytest.mark.parametrize("locations, changed, message", [
    ([{"path": "/x", "servers": [P1, P2, P3], "weights": [2, 1]}], {}, "locations[0].weights: 2 weights for 3 servers"),
    ([{"path": "/b"}, {"path": "/a", "weights": [2, 1]}], {}, "locations[1].weights: 2 weights for 3 servers"),
    ([{"path": "/a", "weights": [1, 1, 1, 1]}], {}, "locations[0].weights: 4 weights for 3 servers"),
    ([{"path": "/a", "weights": [1, 0, 1]}], {}, "locations[0].weights[1]: must be 1-1000, got 0"),
    ([{"path": "/a", "weights": [1, -3, 1]}], {}, "locations[0].weights[1]: must be 1-1000, got -3"),
    ([{"path": "/x", "servers": [P1, "no-port"]}], {}, "locations[0].servers[1]: must be 'host:port'"),
    ([{"path": "no-slash"}], {}, "locations[0].path: must start with /"),
    ([{"path": "/a b"}], {}, "locations[0].path"),
    ([{"path": "/\u00e9"}], {}, "locations[0].path"),
    ([{"path": "/a", "expect": "fastest"}], {}, "locations[0].expect: must be one of"),
    ([{"path": "/a"}], {"timeout": 0}, "timeout: must be more than 0"),
    ([{"path": "/a"}], {"timeout": -1.0}, "timeout: must be more than 0"),
    ([{"path": "/a"}], {"timeout": float("nan")}, "timeout: must be a number of seconds"),
    ([{"path": "/a"}], {"deadline_s": 0}, "deadline: must be more than 0"),
    ([{"path": "/a"}], {"backend_regex": "<h1>(\\d+</h1>"}, "backend_regex: '<h1>(\\\\d+</h1>' does not compile"),
    ([{"path": "/a"}], {"backend_regex": "<h1>\\d+</h1>"}, "backend_regex: needs exactly one group"),
    ([{"path": "/a"}], {"backend_regex": "(a)(b)"}, "backend_regex: needs exactly one group (the backend), '(a)(b)' has 2"),
    ([{"path": "/a"}], {"requests": 0}, "requests: must be 1-1000000, got 0"),
    ([{"path": "/a"}], {"requests": 10 ** 9}, "requests: must be 1-1000000"),
    ([{"path": "/a"}], {"concurrency": 0}, "concurrency: must be 1-256, got 0"),
    ([{"path": "/a"}], {"concurrency": 100000}, "concurrency: must be 1-256, got 100000"),
    ([{"path": "/a"}], {"clients": 300}, "clients: must be 1-254, got 300"),
    ([{"path": "/a"}], {"tolerance": -1}, "tolerance: must be 0-"),
    ([{"path": "/a"}], {"max_errors": -1}, "max_errors: must be 0-"),
    ([{"path": "/a"}], {"backend_header": ""}, "backend_header: must be an HTTP header name"),
    ([{"path": "/a"}], {"backend_header": "X-Backend: x"}, "backend_header: must be an HTTP header name"),
], ids=lambda value: None if not isinstance(value, str) else value.split(":")[0])
def test_bad_parameters_are_named_before_any_request(locations, changed, message):
    sent = []

    def never(*args, **kwargs):
        sent.append(args)
        raise AssertionError("nothing may be sent")
    with pytest.raises(ValueError) as caught:
        verify(weighted_model(), "http://127.0.0.1", locations, poll=never, **dict(GOOD, **changed))
    assert message in str(caught.value)
    assert sent == []


@pytest.mark.parametrize("url, message", [
    ("ftp://127.0.0.1", "url must be http:// or https://"),
    ("http://127.0.0.1:99999", "is not a valid URL"),
    ("http://", "url has no host"),
    ("http://u:hunter2@127.0.0.1:99999", "http://127.0.0.1:99999 is not a valid URL"),
    ("ftp://u:hunter2@127.0.0.1", "url must be http:// or https://, got 'ftp://127.0.0.1'"),
])
def test_bad_urls_are_named_without_their_credentials(url, message):
    with pytest.raises(ValueError) as caught:
        verify(weighted_model(), url, [{"path": "/a"}], 10, poll=nginx_like_poll([2, 1, 1]))
    assert message in str(caught.value) and "hunter2" not in str(caught.value)


@pytest.mark.parametrize("url, shown", [
    ("http://user:pass@127.0.0.1:8080/base", "http://127.0.0.1:8080/base"),
    ("https://user@lb.example", "https://lb.example"),
    ("http://127.0.0.1", "http://127.0.0.1"),
    ("http://u:p@[::1]:80/", "http://[::1]:80/"),
    ("not a url u:p@host", "not a url host"),
])
def test_redact_url(url, shown):
    assert _http_poll.redact_url(url) == shown


# ------------------------------------------------------------ loopback servers

class RawServer:
    """A loopback HTTP server whose every connection runs `handler(conn,
    stopping)`; counts connections; stop() ends it (the fixture calls it)."""

    def __init__(self, handler):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.connections = 0
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()
        self.handler = handler

    def _accept(self):
        while not self.stopping.is_set():
            try:
                conn, dummy = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.connections += 1
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self.threads.append(thread)
            thread.start()
        self.listener.close()

    def _serve(self, conn):
        with conn:
            conn.settimeout(0.2)
            try:
                self.handler(conn, self.stopping)
            except OSError:
                pass

    def stop(self):
        self.stopping.set()
        for thread in list(self.threads):
            thread.join(5)


def read_request(conn, stopping):
    """The next request's bytes (headers only), b'' at EOF or stop."""
    data = b""
    while b"\r\n\r\n" not in data and not stopping.is_set():
        try:
            chunk = conn.recv(4096)
        except socket.timeout:
            continue
        if not chunk:
            return b""
        data += chunk
    return data


@pytest.fixture
def raw_server():
    started = []

    def start(handler):
        server = RawServer(handler)
        started.append(server)
        return server
    yield start
    for server in started:
        server.stop()


MB = 1024 * 1024
LABEL_PAGE = b"<html><h1>7001</h1>"


def big_body(size, chunked=False):
    """A handler answering every request with a `size` byte body, sent in
    64 KiB pieces until the client goes away."""
    def handler(conn, stopping):
        while read_request(conn, stopping):
            filler = b"x" * (64 * 1024)
            if chunked:
                conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Backend: big:1\r\n\r\n")
            else:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nX-Backend: big:1\r\n\r\n" % size)
            sent = 0
            pieces = [LABEL_PAGE + filler[len(LABEL_PAGE):]]
            while sent < size and not stopping.is_set():
                piece = pieces[0] if sent == 0 else filler
                piece = piece[:size - sent]
                conn.settimeout(5)
                conn.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                sent += len(piece)
            if chunked:
                conn.sendall(b"0\r\n\r\n")
    return handler


@pytest.mark.parametrize("size, chunked, truncated", [
    (32 * MB, False, True),
    (32 * MB, True, True),
    (64 * 1024, False, False),       # exactly the limit: read whole, connection kept
    (64 * 1024, True, False),
    (1000, False, False),
])
def test_bodies_are_read_up_to_64_kib(raw_server, size, chunked, truncated, figure):
    server = raw_server(big_body(size, chunked))
    tracemalloc.start()
    try:
        started = time.perf_counter()
        polled = poll(server.url, "/", 4, timeout=5, deadline_s=20, backend_regex=r"<h1>(\d+)</h1>")
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    figure("%d byte body%s, 4 requests" % (size, " chunked" if chunked else ""),
           "peak %.1f MB traced, %.2f s, %d connections" % (peak / MB, elapsed, server.connections))
    assert polled.counts == {"7001": 4} and polled.failed == 0, polled.errors
    assert peak < 2 * MB
    if truncated:
        assert polled.truncated == 4 and server.connections == 4       # each long body: its connection closed
    else:
        assert polled.truncated == 0 and server.connections == 1       # keep-alive as before


# ------------------------------------------------------------ the deadline

def dripping(conn, stopping):
    """Headers at once, then one body byte every 0.4 s: each read is within
    any timeout, the response never ends."""
    if not read_request(conn, stopping):
        return
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\nX-Backend: slow:1\r\n\r\n")
    while not stopping.wait(0.4):
        conn.sendall(b"x")


def silent(conn, stopping):
    """Reads the request, never answers."""
    read_request(conn, stopping)
    stopping.wait(30)


@pytest.mark.parametrize("handler, timeout, deadline, concurrency", [
    (dripping, 1.0, 3.0, 8),        # the case: 19 s before
    (dripping, 1.0, 1.0, 1),
    (silent, 5.0, 1.0, 4),          # socket timeout longer than the deadline
], ids=["drip-c8", "drip-c1", "silent"])
def test_the_deadline_is_honoured_within_a_second(raw_server, handler, timeout, deadline, concurrency, figure):
    server = raw_server(handler)
    started = time.perf_counter()
    polled = poll(server.url, "/", 100, concurrency=concurrency, timeout=timeout, deadline_s=deadline)
    elapsed = time.perf_counter() - started
    figure("deadline %g s, timeout %g s, concurrency %d" % (deadline, timeout, concurrency), "%.2f s" % elapsed)
    assert elapsed < deadline + 1.0
    assert polled.deadline_hit
    # Cut off at the deadline: neither answered nor failed.
    assert polled.requests == 0 and polled.abandoned == concurrency


def test_verify_says_the_deadline_cut_requests_off(raw_server):
    server = raw_server(dripping)
    started = time.perf_counter()
    result, = verify(Model(), server.url, [{"path": "/", "servers": ["127.0.0.1:1"]}], 10, concurrency=2,
                     timeout=1, deadline_s=1)
    assert time.perf_counter() - started < 2.0
    assert result.problems == ["/: no successful response",
                               "/: deadline reached after 0 of 10 requests (2 cut off in flight)"]


# ------------------------------------------------------------ a worker's exception

def test_a_worker_exception_is_counted_with_its_message():
    """http.client cannot encode a non-ASCII path: a UnicodeEncodeError,
    which killed the worker silently (shown as "deadline reached")."""
    started = time.perf_counter()
    polled = poll("http://127.0.0.1:%d" % free_port(), "/caf\u00e9", 5, timeout=1, deadline_s=10)
    assert time.perf_counter() - started < 5
    assert polled.requests == 5 and not polled.deadline_hit
    (kind, number), = polled.errors.items()
    assert number == 5 and kind.startswith("error: UnicodeEncodeError: 'ascii' codec can't encode character")


def test_verify_reports_an_unexpected_exception(monkeypatch, raw_server):
    server = raw_server(big_body(10))

    def explode(self):
        raise RuntimeError("parser exploded")
    monkeypatch.setattr(_http_poll.http.client.HTTPConnection, "getresponse", explode)
    result, = verify(Model(), server.url, [{"path": "/", "servers": ["127.0.0.1:1"]}], 3, timeout=1, deadline_s=10)
    assert result.errors == {"error: RuntimeError: parser exploded": 3}
    assert "/: 3 of 3 requests failed (error: RuntimeError: parser exploded: 3)" in result.problems
    assert not any("deadline" in p for p in result.problems)


# ------------------------------------------------------------ one result type

def test_one_result_type_for_the_table_the_report_and_the_module():
    result, = verify(weighted_model(), "http://127.0.0.1", [{"path": "/a"}], 120, poll=nginx_like_poll([2, 1, 1]))
    assert isinstance(result, _verify.LocationResult)
    data = result.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["counts"] == data["expected"] == {P1: 60, P2: 30, P3: 30}
    assert data["passed"] is True and data["failed"] == 0 and data["polled"] is True
    assert table([result])[0].startswith("/a           round_robin ok   7001:60 7002:30 7003:30 (exact)")
    assert "/a" in _report.render([result])
    missing, = verify(Model(), "http://127.0.0.1", [{"path": "/nowhere"}], 10, poll=nginx_like_poll([1, 1, 1]))
    assert missing.to_dict()["polled"] is False and missing.to_dict()["passed"] is False
    assert table([missing]) == ["/nowhere     FAIL /nowhere: no upstream known for this location (give upstream or "
                                "servers, or check config_path)"]


# ------------------------------------------------------------ the module never crashes

SERVERS3 = [P1, P2, P3]


@pytest.mark.parametrize("args, field", [
    ({"locations": [{"path": "/x", "servers": SERVERS3, "weights": [1, 2]}]},
     "locations[0].weights: 2 weights for 3 servers"),
    ({"locations": [{"path": "/x", "servers": SERVERS3, "weights": [0, 1, 1]}]}, "locations[0].weights[0]"),
    ({"locations": [{"path": "/x", "servers": SERVERS3, "weights": ["heavy", 1, 1]}]}, "weights"),
    ({"locations": [{"path": "/x", "servers": ["nohost"]}]}, "locations[0].servers[0]"),
    ({"locations": [{"path": "x", "servers": SERVERS3}]}, "locations[0].path"),
    ({"locations": [{"servers": SERVERS3}]}, "path"),
    ({"locations": ["just a string"]}, "locations"),
    ({"locations": "/x"}, "locations"),
    ({"backend_regex": "(", "locations": [{"path": "/x", "servers": SERVERS3}]}, "backend_regex"),
    ({"backend_regex": "no group", "locations": [{"path": "/x", "servers": SERVERS3}]}, "backend_regex"),
    ({"timeout": 0}, "timeout"),
    ({"timeout": "nan"}, "timeout"),
    ({"timeout": "soon"}, "timeout"),
    ({"deadline": -5}, "deadline"),
    ({"requests": 0}, "requests"),
    ({"requests": 10 ** 12}, "requests"),
    ({"concurrency": 100000}, "concurrency"),
    ({"clients": 1000}, "clients"),
    ({"url": "ftp://127.0.0.1"}, "url"),
    ({"url": "http://127.0.0.1:99999"}, "url"),
    ({"url": "http://"}, "url"),
    ({"backend_header": ""}, "backend_header"),
    ({"config_path": "/nonexistent/nginx.conf"}, "config_path"),
    ({"config_path": "/"}, "config_path"),
    ({"config_path": "/etc/hostname"}, "config_path"),
], ids=lambda value: None)
def test_module_fails_cleanly_naming_the_field(args, field):
    if "locations" not in args and "config_path" not in args:
        args = dict(args, locations=[{"path": "/x", "servers": SERVERS3}])
    args = dict({"url": "http://127.0.0.1:%d" % free_port(), "requests": 3, "timeout": 1, "deadline": 5}, **args)
    result = run_module("lb_verify", args, timeout=30)
    assert result.get("failed") is True, result
    assert field in result["msg"], result["msg"]
    assert "MODULE FAILURE" not in result["msg"] and "Traceback" not in result["msg"]
    assert "exception" not in result, result.get("exception")


def test_module_keeps_credentials_out_of_result_table_and_report(tmp_path):
    backends = [free_port()]
    report = tmp_path / "r.html"
    url = "http://operator:hunter2secret@127.0.0.1:%d" % backends[0]
    args = {"url": url, "requests": 2, "timeout": 1, "deadline": 5, "report": str(report),
            "locations": [{"path": "/x", "servers": ["127.0.0.1:%d" % backends[0]]}]}
    result = run_module("lb_verify", args)
    assert result["failed"] and result["report"] == str(report)
    page = report.read_text()
    assert "polled http://127.0.0.1:%d" % backends[0] in page
    for secret in ("hunter2secret", "operator:"):
        assert secret not in page
        assert secret not in json.dumps(result)


def test_module_check_mode_predicts_the_report_as_a_change(tmp_path):
    args = {"url": "http://127.0.0.1:%d" % free_port(), "requests": 2, "timeout": 1, "deadline": 5,
            "fail_on_mismatch": False, "report": str(tmp_path / "r.html"), "_ansible_check_mode": True,
            "locations": [{"path": "/x", "servers": [P1]}]}
    result = run_module("lb_verify", args)
    assert result["changed"] is True and "report" not in result and not (tmp_path / "r.html").exists()
    assert result["locations"][0]["failed"] == 2
