"""lb_verify's poller against hostile loopback servers: huge
bodies, backends that drip their answer past the deadline, exceptions that
killed a worker silently. Loopback only; every server started here is
stopped by its fixture, every poll is bounded in count and time."""

import socket
import threading
import time
import tracemalloc

import pytest

from ansible_collections.edgeops.nginx_lb.plugins.module_utils import _http_poll, _verify
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._http_poll import poll
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model import Model, Server, Upstream
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._verify import verify

from helpers.localnet import free_port


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
    assert len(polled.errors) == 1, polled.errors
    kind, number = next(iter(polled.errors.items()))
    assert number == 5 and kind.startswith("error: UnicodeEncodeError: 'ascii' codec can't encode character")


def test_verify_reports_an_unexpected_exception(monkeypatch, raw_server):
    server = raw_server(big_body(10))

    def explode(head):
        raise RuntimeError("parser exploded")
    # The response head parser (http.client's getresponse before the poller
    # spoke raw HTTP/1.1 on asyncio).
    monkeypatch.setattr(_http_poll, "parse_head", explode)
    result, = verify(Model(), server.url, [{"path": "/", "servers": ["127.0.0.1:1"]}], 3, timeout=1, deadline_s=10)
    assert result.errors == {"error: RuntimeError: parser exploded": 3}
    assert "/: 3 of 3 requests failed (error: RuntimeError: parser exploded: 3)" in result.problems
    assert not any("deadline" in p for p in result.problems)


# ------------------------------------------------------------ raw HTTP/1.1 framing

def canned(response, byte_at_a_time=False):
    """A handler answering every request with `response`, at once or one
    byte per send (every head and chunk boundary then falls mid-read)."""
    def handler(conn, stopping):
        while read_request(conn, stopping):
            if byte_at_a_time:
                for index in range(len(response)):
                    conn.sendall(response[index:index + 1])
            else:
                conn.sendall(response)
            if b"Connection: close" in response or b"HTTP/1.0" in response:
                return
    return handler


OK_HEAD = b"HTTP/1.1 200 OK\r\nX-Backend: raw:1\r\n"


@pytest.mark.parametrize("response, counts, errors, keepalive", [
    (OK_HEAD + b"Content-Length: 2\r\n\r\nok", {"raw:1": 3}, {}, True),
    (OK_HEAD + b"Transfer-Encoding: chunked\r\n\r\n2;ext=1\r\nok\r\n1\r\n!\r\n0\r\nTrailer: x\r\n\r\n",
     {"raw:1": 3}, {}, True),
    (b"HTTP/1.1 100 Continue\r\n\r\n" + OK_HEAD + b"Content-Length: 0\r\n\r\n", {"raw:1": 3}, {}, True),
    (b"HTTP/1.1 204 No Content\r\nX-Backend: raw:1\r\n\r\n", {"raw:1": 3}, {}, True),
    (OK_HEAD + b"Connection: close\r\nContent-Length: 2\r\n\r\nok", {"raw:1": 3}, {}, False),
    (b"HTTP/1.0 200 OK\r\nX-Backend: raw:1\r\n\r\nuntil the server closes", {"raw:1": 3}, {}, False),
    (b"HTTP/1.1 200 OK\r\nX-Backend: a\r\nX-Backend: b\r\nContent-Length: 0\r\n\r\n", {"a, b": 3}, {}, True),
    (b"HTTP/1.1 503 Busy\r\nX-Backend: raw:1\r\nContent-Length: 4\r\n\r\nbusy", {}, {"status 503": 3}, True),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", {}, {"unidentified backend": 3}, False),
    (b"SSH-2.0-OpenSSH_9.2\r\n\r\n", {}, {"connection: BadStatusLine": 3}, False),
    (OK_HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n", {}, {"connection: IncompleteRead": 3},
     False),
], ids=["length", "chunked-trailer", "100-continue", "204", "connection-close", "http10-until-close",
        "repeated-header", "status-503", "unidentified", "bad-status-line", "bad-chunk-size"])
@pytest.mark.parametrize("byte_at_a_time", [False, True], ids=["whole", "bytewise"])
def test_raw_http11_framing(raw_server, response, counts, errors, keepalive, byte_at_a_time):
    server = raw_server(canned(response, byte_at_a_time))
    polled = poll(server.url, "/", 3, timeout=2, deadline_s=10)
    assert polled.counts == counts and polled.errors == errors
    assert polled.requests == 3 and polled.retried == 0 and not polled.deadline_hit
    # One keep-alive connection where the response allows it, else one each.
    assert server.connections == (1 if keepalive else 3)


def test_the_timeout_is_an_idle_timeout(raw_server):
    """A response whose bytes keep coming (0.3 s apart, 1.5 s in all) does
    not time out at timeout=1; one whose head never ends does."""
    def slow_but_steady(conn, stopping):
        while read_request(conn, stopping):
            for piece in (OK_HEAD, b"Content-Length: 4\r\n\r\n", b"a", b"b", b"c", b"d"):
                if stopping.wait(0.3):
                    return
                conn.sendall(piece)
    steady = poll(raw_server(slow_but_steady).url, "/", 1, timeout=1, deadline_s=10)
    assert steady.counts == {"raw:1": 1} and steady.errors == {}
    stalled = poll(raw_server(silent).url, "/", 1, timeout=1, deadline_s=10)
    assert stalled.errors == {"timeout": 1} and stalled.abandoned == 0


# ------------------------------------------------------------ hostile framing and labels

def test_hostile_framing_is_a_counted_error_never_a_crash_nor_an_overread(raw_server):
    """A negative chunk size (-7 read 300 KB past the 64 KiB limit), a 0x
    one, a signed Content-Length, and a thousand interim responses before
    the answer (parsed recursively, they raised RecursionError)."""
    cases = [
        (OK_HEAD + b"Transfer-Encoding: chunked\r\n\r\n-7\r\n" + b"x" * 300000 + b"\r\n0\r\n\r\n",
         {}, {"connection: IncompleteRead": 2}),
        (OK_HEAD + b"Transfer-Encoding: chunked\r\n\r\n0x2\r\nok\r\n0\r\n\r\n", {}, {"connection: IncompleteRead": 2}),
        (OK_HEAD + b"Content-Length: +2\r\n\r\nok", {}, {"connection: HTTPException": 2}),
        (b"HTTP/1.1 100 Continue\r\n\r\n" * 1000 + OK_HEAD + b"Content-Length: 2\r\n\r\nok", {"raw:1": 2}, {}),
        (b"HTTP/1.1 102 Processing\r\n\r\n" * 3000 + OK_HEAD + b"Content-Length: 2\r\n\r\nok", {},
         {"connection: LineTooLong": 2}),
    ]
    for response, counts, errors in cases:
        started = time.monotonic()
        polled = poll(raw_server(canned(response)).url, "/", 2, timeout=2, deadline_s=10)
        assert (polled.counts, polled.errors) == (counts, errors), response[:60]
        assert polled.truncated == 0 and time.monotonic() - started < 5


def test_name_resolution_of_backend_labels_ends_at_the_deadline(raw_server, monkeypatch, figure):
    """Every answer names another host (n0.lab.test:PORT ...): each is one
    lookup (made slow here, 0.2 s): 100 names one by one would take 20 s.
    The location's deadline ends them: a 2 s deadline is a run of about 2 s."""
    calls = []

    def slow_lookup(host):
        calls.append(host)
        time.sleep(0.2)
        return set()

    labels = iter(range(10 ** 6))

    def distinct_names(conn, stopping):
        while read_request(conn, stopping):
            conn.sendall(b"HTTP/1.1 200 OK\r\nX-Backend: n%d.lab.test:7001\r\nContent-Length: 0\r\n\r\n"
                         % next(labels))

    monkeypatch.setattr(_verify, "_resolve", slow_lookup)
    server = raw_server(distinct_names)
    model = Model(upstreams=[Upstream("u", servers=[Server("127.0.0.1:7001")])])
    started = time.monotonic()
    result, = verify(model, server.url, [{"path": "/", "upstream": "u"}], 100, timeout=1, deadline_s=2)
    took = time.monotonic() - started
    figure("100 requests, 100 distinct X-Backend names, lookups of 0.2 s, deadline 2 s",
           "%.2f s, %d lookups" % (took, len(calls)))
    assert took < 3.0 and 0 < len(calls) < 100
    assert result.requests == 100 and any("not in upstream u" in problem for problem in result.problems)


# ------------------------------------------------------------ sticky cookie

def sticky_like(labels, sticky=True):
    """A handler that answers like nginx's `sticky cookie srv`: a request
    without the cookie goes to the next label in turn and is given the cookie;
    with it, to the label the cookie names. `sticky` False: no cookie at all."""
    turn = {"next": 0}

    def handler(conn, stopping):
        while True:
            head = read_request(conn, stopping)
            if not head:
                return
            cookie = [line.split(b"srv=", 1)[1].strip() for line in head.split(b"\r\n")
                      if line.lower().startswith(b"cookie:") and b"srv=" in line]
            extra = b""
            if cookie and cookie[0].decode() in labels:
                label = cookie[0].decode()
            else:
                label = labels[turn["next"] % len(labels)]
                turn["next"] += 1
                if sticky:
                    extra = b"Set-Cookie: srv=%s; path=/; HttpOnly\r\n" % label.encode()
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Backend: %s\r\n%s\r\nok" % (label.encode(), extra))
    return handler


LABELS = ["127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"]


def test_a_client_that_keeps_the_cookie_gets_one_backend(raw_server):
    server = raw_server(sticky_like(LABELS))
    kept = poll(server.url, "/", 30, concurrency=1, timeout=2, deadline_s=10, keep_cookie="srv")
    assert kept.sessions == [{"127.0.0.1:7001": 30}] and kept.cookies_set == 1 and kept.failed == 0
    # Without keep_cookie every request is a new client: in turn.
    new = poll(server.url, "/", 30, concurrency=1, timeout=2, deadline_s=10)
    assert new.counts == {label: 10 for label in LABELS} and new.sessions == []


@pytest.mark.parametrize("sticky, problem", [
    (True, None),
    (False, "/s: 3 of 3 clients got no cookie srv (Set-Cookie): is upstream app sticky?"),
])
def test_lb_verify_judges_cookie_clients_on_the_wire(raw_server, sticky, problem):
    from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model import Location, Sticky
    server = raw_server(sticky_like(LABELS, sticky))
    upstream = Upstream("app", servers=[Server(label) for label in LABELS], sticky=Sticky("srv"))
    result, = verify(Model(upstreams=[upstream], locations=[Location("/s", "app")]), server.url, [{"path": "/s"}],
                     30, timeout=2, deadline_s=10)
    assert result.counts == {label: 10 for label in LABELS}
    if problem is None:
        assert result.passed, result.problems
        assert len(result.sessions) == 3 and all(list(one.values()) == [30] for one in result.sessions)
    else:
        assert problem in result.problems
