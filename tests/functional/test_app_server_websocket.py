"""The app server's WebSocket echo on /ws (RFC 6455) and its server-sent
events on /events, spoken to with the standard library over loopback. Every
server started here is stopped by its PID; every read is bounded by a
socket timeout, every loop by a count."""

import re
import socket
import struct
import subprocess
import sys
import time

import pytest

from helpers.processes import APP_SERVER, AppServerProcess
from helpers.websocket import BINARY, CLOSE, CONTINUATION, PING, PONG, TEXT, Client

MAX_MESSAGE = 65536  # the server's default
JITTER_S = 0.1  # how late this process may read an event on a busy machine


class Server(AppServerProcess):
    """One app server process, and WebSocket clients of it."""

    def __init__(self, *extra):
        super().__init__(*extra)
        self.backend = "%s:%d" % (socket.gethostname(), self.port)

    def client(self, timeout=5.0):
        return Client("127.0.0.1", self.port, timeout=timeout)

    def stop(self):
        """Stop it; what it wrote on stderr."""
        super().stop()
        return self.stderr()


@pytest.fixture(scope="module", params=[0, 100], ids=["no latency", "latency 100 ms"])
def app(request):
    server = Server("--latency-ms", str(request.param))
    yield server
    assert "Traceback" not in server.stop()


@pytest.fixture(scope="module")
def quick():
    """A server whose idle timeout is 1 s and largest message 1000 bytes."""
    server = Server("--idle-timeout", "1", "--max-message", "1000")
    yield server
    assert "Traceback" not in server.stop()


# ------------------------------------------------------------- the echo

def test_handshake_echo_ping_and_a_clean_close(app):
    with app.client() as ws:
        fields = ws.handshake()
        assert fields["x-backend"] == app.backend and fields["connection"].lower() == "upgrade"
        ws.send(TEXT, "héllo, wörld".encode())
        assert ws.receive() == (True, TEXT, "héllo, wörld".encode())
        ws.send(BINARY, bytes(range(256)))
        assert ws.receive() == (True, BINARY, bytes(range(256)))
        ws.send(PING, b"are you there")
        assert ws.receive() == (True, PONG, b"are you there")
        ws.send(PONG, b"unasked")  # a pong nobody asked for is ignored
        ws.send(TEXT, b"still here")
        assert ws.receive() == (True, TEXT, b"still here")
        ws.send(CLOSE, struct.pack("!H", 1000) + b"bye")
        assert ws.receive() == (True, CLOSE, struct.pack("!H", 1000))
        assert ws.closed()


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, MAX_MESSAGE])
@pytest.mark.parametrize("opcode", [TEXT, BINARY], ids=["text", "binary"])
def test_messages_up_to_the_bound_are_echoed_whole(app, opcode, size):
    payload = (b"abcdefghij" * (size // 10 + 1))[:size]
    with app.client() as ws:
        ws.handshake()
        ws.send(opcode, payload)
        assert ws.receive() == (True, opcode, payload)


def test_a_fragmented_message_is_assembled_with_control_frames_between_its_fragments(app):
    with app.client() as ws:
        ws.handshake()
        ws.send(TEXT, "frag".encode(), fin=False)
        ws.send(PING, b"1")
        ws.send(CONTINUATION, "mént".encode()[:3], fin=False)  # a UTF-8 sequence split across fragments
        ws.send(CONTINUATION, "mént".encode()[3:])
        assert ws.receive() == (True, PONG, b"1")
        assert ws.receive() == (True, TEXT, "fragmént".encode())


def test_frames_sent_with_the_upgrade_request_are_echoed(app):
    with app.client() as ws:
        ws.sock.sendall(b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
                        b"\x81\x82\x00\x00\x00\x00hi")  # a masked "hi" (its mask all zero) in the same write
        status, fields = ws.response_head()
        assert (status, fields["sec-websocket-accept"]) == (101, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")  # RFC 6455's example
        assert ws.receive() == (True, TEXT, b"hi")


def test_a_client_that_half_closes_gets_its_echoes_then_the_close(app):
    with app.client() as ws:
        ws.handshake()
        ws.send(TEXT, b"one")
        ws.send(BINARY, b"two")
        ws.sock.shutdown(socket.SHUT_WR)
        assert [ws.receive(), ws.receive()] == [(True, TEXT, b"one"), (True, BINARY, b"two")]
        assert ws.closed()


# ------------------------------------------------------- refused frames

def close_code_after(server, frames, raw=b""):
    """The close code the server answers `frames` ((opcode, payload, send() options)) and `raw` bytes with;
    the connection must end after it."""
    with server.client() as ws:
        ws.handshake()
        for opcode, payload, options in frames:
            ws.send(opcode, payload, **options)
        if raw:
            ws.sock.sendall(raw)
        code = ws.close_code()
        assert ws.closed()
    return code


PROTOCOL_ERRORS = {
    "unmasked frame": [(TEXT, b"hi", {"mask": False})],
    "unmasked close": [(CLOSE, struct.pack("!H", 1000), {"mask": False})],
    "reserved bit 1 (no extension agreed)": [(TEXT, b"hi", {"rsv": 4})],
    "reserved bit 3": [(BINARY, b"hi", {"rsv": 1})],
    "reserved opcode 3": [(3, b"hi", {})],
    "reserved control opcode 0xB": [(0xB, b"", {})],
    "continuation without a message": [(CONTINUATION, b"hi", {})],
    "a new message within a fragmented one": [(TEXT, b"a", {"fin": False}), (TEXT, b"b", {})],
    "fragmented ping": [(PING, b"a", {"fin": False})],
    "ping over 125 bytes": [(PING, b"p" * 126, {})],
    "close with a 1-byte payload": [(CLOSE, b"\x03", {})],
    "close with code 1005 (never sent)": [(CLOSE, struct.pack("!H", 1005), {})],
    "close with code 999": [(CLOSE, struct.pack("!H", 999), {})],
    "close with code 5000": [(CLOSE, struct.pack("!H", 5000), {})],
}


@pytest.mark.parametrize("frames", PROTOCOL_ERRORS.values(), ids=PROTOCOL_ERRORS.keys())
def test_a_protocol_error_gets_close_1002(app, frames):
    assert close_code_after(app, frames) == 1002


@pytest.mark.parametrize("frames", [
    [(TEXT, b"\xff\xfe", {})],
    [(TEXT, "é".encode()[:1], {})],
    [(TEXT, b"ok", {"fin": False}), (CONTINUATION, b"\xc3", {})],
    [(CLOSE, struct.pack("!H", 1000) + b"\xff", {})],
], ids=["bad bytes", "a truncated sequence", "a fragmented message ending mid-sequence", "close reason"])
def test_text_that_is_not_utf8_gets_close_1007(app, frames):
    assert close_code_after(app, frames) == 1007


@pytest.mark.parametrize("frames, raw", [
    ([(BINARY, b"x" * 1001, {})], b""),
    ([(TEXT, b"x" * 1001, {})], b""),
    ([(TEXT, b"x" * 600, {"fin": False}), (CONTINUATION, b"x" * 401, {})], b""),
    ([(BINARY, b"x" * 400, {"fin": False})] + [(CONTINUATION, b"x" * 300, {"fin": False})] * 3, b""),
    ([], b"\x82\xff" + struct.pack("!Q", 1 << 62)),  # a head claiming 4 EiB: refused at its head
    ([], b"\x82\xfe" + struct.pack("!H", 1001) + b"\x00" * 4 + b"x" * 100),  # refused before its payload came
], ids=["binary 1001", "text 1001", "two fragments 1001", "four fragments 1300", "4 EiB head", "1001 partly sent"])
def test_a_message_over_the_bound_gets_close_1009(quick, frames, raw):
    assert close_code_after(quick, frames, raw) == 1009


def test_a_message_one_byte_over_the_default_bound_gets_close_1009(app):
    assert close_code_after(app, [(BINARY, b"x" * (MAX_MESSAGE + 1), {})]) == 1009


def test_a_client_that_does_not_read_its_echoes_is_not_read_either(figure):
    server = Server()
    try:
        with server.client(timeout=5) as ws:
            ws.handshake()
            idle, sent, message = server.rss_kb(), 0, b"m" * 60000
            ws.sock.settimeout(0.5)
            started = time.monotonic()
            try:
                while sent < 500 and time.monotonic() - started < 20:  # 30 MB if the server kept echoing
                    ws.send(BINARY, message)
                    sent += 1
            except socket.timeout:
                pass  # the server stopped reading: what the test wants
            growth = server.rss_kb() - idle
            ws.sock.settimeout(5)
            assert ws.receive() == (True, BINARY, message)  # the echoes are there for a client that reads at last
    finally:
        assert "Traceback" not in server.stop()
    figure("60 kB messages a websocket client sent while reading no echo (of 500)", sent)
    figure("server VmRSS growth meanwhile MB", round(growth / 1024, 1))
    assert sent < 500 and growth < 16 * 1024


def test_an_idle_websocket_is_closed_with_1001(quick, figure):
    with quick.client(timeout=5) as ws:
        ws.handshake()
        ws.send(TEXT, b"a")
        assert ws.receive() == (True, TEXT, b"a")
        started = time.monotonic()
        assert ws.close_code() == 1001
        idle = time.monotonic() - started
        assert ws.closed()
    figure("idle websocket closed after s (--idle-timeout 1)", round(idle, 2))
    assert 0.9 <= idle < 3


def test_a_slowly_dripped_frame_does_not_extend_the_idle_timeout(quick):
    with quick.client(timeout=5) as ws:
        ws.handshake()
        started = time.monotonic()
        for byte in b"\x81\x85\x00\x00\x00\x00hello"[:-1]:  # a byte every 0.2 s, never the last one
            try:
                ws.sock.sendall(bytes([byte]))
            except OSError:
                break
            time.sleep(0.2)
        assert ws.close_code() == 1001
        assert time.monotonic() - started < 3.5


# --------------------------------------------------------- refused upgrades

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
BAD_UPGRADES = {
    "no key": ({"Sec-WebSocket-Key": None}, 400, "Sec-WebSocket-Key"),
    "empty key": ({"Sec-WebSocket-Key": ""}, 400, "Sec-WebSocket-Key"),
    "key of 15 bytes": ({"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25j"}, 400, "Sec-WebSocket-Key"),
    "key of 17 bytes": ({"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQE="}, 400, "Sec-WebSocket-Key"),
    "key not base64": ({"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZ!=="}, 400, "Sec-WebSocket-Key"),
    "key not canonical": ({"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZR=="}, 400, "Sec-WebSocket-Key"),
    "key with a trailing space inside": ({"Sec-WebSocket-Key": KEY + " x"}, 400, "Sec-WebSocket-Key"),
    "two keys": ({"Sec-WebSocket-Key": KEY + "\r\nSec-WebSocket-Key: " + KEY}, 400, "Sec-WebSocket-Key"),
    "no Upgrade": ({"Upgrade": None}, 400, "Upgrade"),
    "Upgrade: h2c": ({"Upgrade": "h2c"}, 400, "Upgrade"),
    "no Connection": ({"Connection": None}, 400, "Connection"),
    "Connection: keep-alive": ({"Connection": "keep-alive"}, 400, "Connection"),
    "Connection: upgraded": ({"Connection": "upgraded"}, 400, "Connection"),
    "no version": ({"Sec-WebSocket-Version": None}, 426, "Sec-WebSocket-Version"),
    "version 8": ({"Sec-WebSocket-Version": "8"}, 426, "Sec-WebSocket-Version"),
    "a body": ({"Content-Length": "2"}, 400, "Content-Length"),
}


@pytest.mark.parametrize("headers, status, field", BAD_UPGRADES.values(), ids=BAD_UPGRADES.keys())
def test_a_bad_upgrade_request_is_refused_naming_the_field(app, headers, status, field):
    with app.client() as ws:
        ws.request(headers=headers)
        got, fields = ws.response_head()
        body = ws.response_body(fields)
        assert (got, fields["x-backend"]) == (status, app.backend)
        assert body.startswith(b"websocket upgrade: " + field.encode() + b": "), body
        assert fields.get("sec-websocket-version") == ("13" if status == 426 else None)
        assert fields["connection"] == "close" and ws.closed()


@pytest.mark.parametrize("request_line, status", [
    (b"GET /ws HTTP/1.0", 400), (b"HEAD /ws HTTP/1.1", 400), (b"POST /ws HTTP/1.1", 405)])
def test_an_upgrade_needs_get_with_http_1_1(app, request_line, status):
    with socket.create_connection(("127.0.0.1", app.port), timeout=5) as sock:
        sock.sendall(request_line + b"\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + KEY.encode() + b"\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 %d " % status)


def exchange(port, request):
    """All the server sends back to `request` until it closes (at most 100 reads, each within the timeout)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        answer = b""
        for dummy in range(100):
            chunk = sock.recv(65536)
            if not chunk:
                return answer
            answer += chunk
    raise AssertionError("not closed after 100 reads: %r" % answer[:300])


@pytest.mark.parametrize("path", ["/ws/x", "/wss", "/events/x", "/eventsx"])
def test_other_paths_still_answer_the_page(app, path):
    answer = exchange(app.port, b"GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" % path.encode())
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and b"<h1>%d</h1>" % app.port in answer


# ------------------------------------------------------------- /events

def read_events(sock, limit_s=10):
    """(head, [(arrival time, event text)], rest) of an event stream until the response ends."""
    data, events, started = b"", [], time.monotonic()
    while time.monotonic() - started < limit_s:
        chunk = sock.recv(65536)
        now = time.monotonic()
        data += chunk
        found = re.findall(rb"data: ([^\n]*)\n\n", data.split(b"\r\n\r\n", 1)[-1])
        events += [(now, text.decode()) for text in found[len(events):]]
        if not chunk or data.endswith(b"\r\n0\r\n\r\n"):
            break
    head, dummy, rest = data.partition(b"\r\n\r\n")
    return head.decode("latin-1"), events, rest


@pytest.mark.parametrize("query, count, interval_ms", [
    ("", 3, 250), ("?count=4&interval_ms=200", 4, 200), ("?interval_ms=300", 3, 300), ("?count=1", 1, 250)])
def test_events_arrive_one_at_a_time_spaced_in_time(app, query, count, interval_ms, figure):
    with socket.create_connection(("127.0.0.1", app.port), timeout=5) as sock:
        sent = time.monotonic()
        sock.sendall(b"GET /events%s HTTP/1.1\r\nHost: t\r\n\r\n" % query.encode())
        head, events, rest = read_events(sock)
    assert head.startswith("HTTP/1.1 200 OK\r\n")
    fields = dict(line.split(": ", 1) for line in head.split("\r\n")[1:])
    assert fields["Content-Type"] == "text/event-stream" and fields["Cache-Control"] == "no-cache"
    assert fields["X-Backend"] == app.backend and fields["Transfer-Encoding"] == "chunked"
    assert "Content-Length" not in fields and "Connection" not in fields
    assert [text for dummy, text in events] == ["%s %d" % (app.backend, n) for n in range(1, count + 1)]
    gaps = [later - earlier for (earlier, dummy), (later, dummy) in zip(events, events[1:])]
    if gaps:
        figure("/events%s gaps between events ms" % query, [round(1000 * gap) for gap in gaps])
    # A busy test process reads an event late (a gap shorter, the next longer), never early.
    assert all(interval_ms / 1000 - JITTER_S <= gap < interval_ms / 1000 + 1 for gap in gaps), gaps
    assert all(arrived - sent >= n * interval_ms / 1000 for n, (arrived, dummy) in enumerate(events)), (sent, events)
    assert rest.endswith(b"\r\n0\r\n\r\n")


@pytest.mark.parametrize("count", [1, 2])
def test_a_request_sent_during_the_events_is_answered_once_after_them(app, count):
    data = exchange(app.port, b"GET /events?count=%d&interval_ms=100 HTTP/1.1\r\nHost: t\r\n\r\n"
                              b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" % count)
    stream, dummy, answer = data.partition(b"\r\n0\r\n\r\n")
    assert stream.count(b"data: ") == count and stream.count(b"HTTP/1.1 ") == 1
    assert answer.count(b"HTTP/1.1 ") == 1
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and answer.endswith(b"\r\n\r\nok\n")


def test_events_to_http_1_0_end_with_the_close(app):
    with socket.create_connection(("127.0.0.1", app.port), timeout=5) as sock:
        sock.sendall(b"GET /events?count=2&interval_ms=50 HTTP/1.0\r\n\r\n")
        head, events, rest = read_events(sock)
    assert "Transfer-Encoding" not in head and "\r\nConnection: close" in head
    assert len(events) == 2 and rest == b"id: 1\ndata: %s 1\n\nid: 2\ndata: %s 2\n\n" % ((app.backend.encode(),) * 2)


def test_head_of_events_is_the_head_alone(app):
    data = exchange(app.port, b"HEAD /events HTTP/1.1\r\nHost: t\r\n\r\n"
                              b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    head, dummy, rest = data.partition(b"\r\n\r\n")
    assert b"Content-Type: text/event-stream" in head and rest.startswith(b"HTTP/1.1 200 OK\r\n")


@pytest.mark.parametrize("query, message", [
    ("?count=0", b"/events: count: must be given once, 1-20, got '0'"),
    ("?count=21", b"/events: count: must be given once, 1-20, got '21'"),
    ("?count=-1", b"/events: count: must be given once, 1-20, got '-1'"),
    ("?count=", b"/events: count: must be given once, 1-20, got ''"),
    ("?count=3x", b"/events: count: must be given once, 1-20, got '3x'"),
    ("?count=999999999999", b"/events: count: must be given once, 1-20, got '999999999999'"),
    ("?count=2&count=3", b"/events: count: must be given once, 1-20, got '3'"),
    ("?interval_ms=2001", b"/events: interval_ms: must be given once, 0-2000, got '2001'"),
    ("?interval_ms=1e3", b"/events: interval_ms: must be given once, 0-2000, got '1e3'"),
    ("?every=1", b"/events: unknown parameter 'every' (known: count, interval_ms)"),
])
def test_event_parameters_out_of_bounds_are_refused_naming_the_parameter(app, query, message):
    data = exchange(app.port, b"GET /events%s HTTP/1.1\r\nHost: t\r\n\r\n" % query.encode())
    assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n") and data.endswith(b"\r\n\r\n" + message + b"\n"), data


@pytest.mark.parametrize("value", ["0", "-1", "16777217", "1e3", "64k", "", " 100", "100\n"])
def test_max_message_outside_its_bounds_is_refused_naming_the_option(value):
    done = subprocess.run([sys.executable, str(APP_SERVER), "--port", "1", "--max-message=" + value],
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 2 and "--max-message must be 1-16777216 bytes, got %r" % value in done.stderr, done.stderr
