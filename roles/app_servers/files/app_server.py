"""The tutorial's app server, one port per process (app-server@PORT.service).

Standard library only. Unlike the tutorial's HTTPServer it serves many
connections at once on one asyncio event loop, speaks HTTP/1.1 keep-alive
with TCP_NODELAY (no Nagle stall on small responses), has a deep listen
backlog, escapes what it reflects, and says who answered: header
`X-Backend: HOSTNAME:PORT`, and which release: `X-App-Version: LABEL`
(--app-version). `GET` of --health-path (default /healthz) answers
`ok`. The request head is parsed with bytes
operations and each response goes out in one write: `make bench` measured
this design at about 4x the requests/s of a thread per connection with
http.server's parser, at a third of the CPU per request.

Hostile input costs bounded memory and time: a head must arrive within
--header-timeout (its body, if any, within as long again), an idle
keep-alive connection is closed after --idle-timeout, a head over 64 KiB
is refused with 431 and a body over --max-body with 413 (bodies within it
are read and discarded: the app reads none), chunked bodies are refused
(411, or 501 for other codings), any malformed head gets 400, and a client
that does not read its responses stops being read. Pipelined requests are
answered in a loop, in order, however many come in one write.

A connection persists as RFC 9112 9.3 says: never after a request whose
Connection list holds `close`, else always for HTTP/1.1 and for HTTP/1.0
only with `keep-alive` (answered with `Connection: keep-alive`). A client
that half-closes after its requests still gets every answer, then the close.

`GET /metrics` answers the requests this process has answered so far, by
status, in Prometheus' text format (app_server_requests_total); the
scrapes of /metrics themselves are not counted.

`GET /ws` with a valid RFC 6455 handshake switches to a WebSocket (101, with
X-Backend) that echoes text and binary messages, answers ping with pong and
a close with a close; a bad handshake gets 400 (426 for another version)
naming the field. `GET /events[?count=N&interval_ms=M]` (1-20 events, 3 by
default, 0-2000 ms apart, 250 by default) is a text/event-stream of events
`data: HOSTNAME:PORT n`, each written when due, then the response ends
(chunked; HTTP/1.0: by the close). No `X-Accel-Buffering` header: the load
balancer's own setting (a location's `buffering`) decides.
"""

import argparse
import asyncio
import base64
import functools
import hashlib
import html
import json
import re
import signal
import socket
import struct
import sys
import time

PAGE = """<!DOCTYPE html>
<html>
    <head>
        <style> h1 {{ font-size:100px; text-align:center; margin-left:auto; margin-right:auto }}
                p {{ font-size:20px; text-align:center; }}
        </style>
        <title>{title}</title>
    </head>
<body><h1>{port}</h1><h1>{time}</h1></body></html>
"""

MAX_HEAD = 65536  # nginx forwards at most 4 x 8 KiB of request head (large_client_header_buffers)
MAX_LENGTH_DIGITS = 18  # longer Content-Length values are not lengths (and int() of 5,000 digits raises)
LINGER_S = 2.0  # after an error response: read and drop what the client still sends, so it sees the status
SWEEP_BATCH = 100  # connections closed per turn of the event loop at most
DEFAULT_HEADER_TIMEOUT = 10.0
DEFAULT_IDLE_TIMEOUT = 75.0  # above nginx's upstream keepalive_timeout (60 s): nginx closes idle ones first
DEFAULT_MAX_BODY = 65536
REASONS = {101: b"Switching Protocols", 200: b"OK", 400: b"Bad Request", 405: b"Method Not Allowed",
           408: b"Request Timeout", 411: b"Length Required", 413: b"Content Too Large", 426: b"Upgrade Required",
           431: b"Request Header Fields Too Large", 501: b"Not Implemented"}
TEXT = b"text/plain; charset=utf-8"
# The Connection field of a response: none where HTTP/1.1 persists anyway; an
# HTTP/1.0 client learns that its connection persists only from keep-alive.
CONNECTION = {(True, b"1"): b"", (True, b"0"): b"\r\nConnection: keep-alive",
              (False, b"1"): b"\r\nConnection: close", (False, b"0"): b"\r\nConnection: close"}
CLOSE = CONNECTION[False, b"1"]
DEFAULT_MAX_MESSAGE = 65536
WEBSOCKET_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
WEBSOCKET_KEY = re.compile(rb"\A[A-Za-z0-9+/]{21}[AQgw]==\Z")  # base64 of 16 bytes, canonical: its last 4 bits are 0
EVENT_LIMITS = {b"count": (1, 20, 3), b"interval_ms": (0, 2000, 250)}  # (least, most, default)
EVENT_VALUE = re.compile(rb"\A[0-9]{1,5}\Z")
EVENTS_FIELDS = b"\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache"
METRICS_TYPE = b"text/plain; version=0.0.4; charset=utf-8"

# The whole head in one pass: a request line of RFC 9110 tokens and an ASCII
# target, then fields whose values hold no control character but tab. Any
# other head (obs-fold, bare CR or LF, NUL, a space before a colon, HTTP/2)
# is a 400. No part can match what another does, so it never backtracks.
# A second field line of these is how requests get smuggled (or routed twice): 400.
SINGLE_FIELDS = frozenset((b"content-length", b"transfer-encoding", b"host"))
HEAD = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+ [\x21-\x7e]+ HTTP/1\.[01]"
                  rb"(?:\r\n[!#$%&'*+.^_`|~0-9A-Za-z-]+:[\t\x20-\x7e\x80-\xff]*)*")


class Clock:
    """The Date header and the page's %X, formatted once per second."""

    def __init__(self):
        self.second = None
        self.date = b""
        self.local = ""

    def now(self):
        second = int(time.time())
        if second != self.second:
            self.second = second
            self.date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(second)).encode()
            self.local = time.strftime("%X", time.localtime(second))
        return self


def log(message):
    """One line on stderr (the journal), never a traceback."""
    sys.stderr.write("app server: %s\n" % message)
    sys.stderr.flush()


class App:
    """What one port answers, and the limits it enforces."""

    def __init__(self, port, latency_ms=0, access_log=False, header_timeout=DEFAULT_HEADER_TIMEOUT,
                 idle_timeout=DEFAULT_IDLE_TIMEOUT, max_body=DEFAULT_MAX_BODY, version="", health_path="/healthz",
                 max_message=DEFAULT_MAX_MESSAGE):
        self.port = port
        # Checked by main() against an allow-list: both go into the response head verbatim.
        self.version_field = b"\r\nX-App-Version: " + version.encode() if version else b""
        self.health_path = health_path.encode()
        self.hostname = socket.gethostname()
        self.backend = "%s:%d" % (self.hostname, port)
        self.backend_field = self.backend.encode()
        self.latency_s = latency_ms / 1000.0
        self.access_log = access_log
        self.header_timeout = header_timeout
        self.idle_timeout = idle_timeout
        self.max_body = max_body
        self.max_message = max_message
        self.streams = {b"/ws": self.open_websocket, b"/events": self.open_events}
        self.clock = Clock()
        self.answered = {}  # status -> responses sent, for /metrics

    def count(self, status):
        self.answered[status] = self.answered.get(status, 0) + 1

    def metrics(self):
        """The request counters in Prometheus' text exposition format."""
        lines = ["# HELP app_server_requests_total Requests this app server answered, by status "
                 "(scrapes of /metrics not counted).",
                 "# TYPE app_server_requests_total counter"]
        lines += ['app_server_requests_total{port="%d",status="%d"} %d' % (self.port, status, number)
                  for status, number in sorted(self.answered.items())]
        return ("\n".join(lines) + "\n").encode()

    def respond(self, method, target, headers):
        """(status, body, content type) of one request, counted unless it is a scrape of /metrics."""
        if method in (b"GET", b"HEAD") and (target == b"/metrics" or target.startswith(b"/metrics?")):
            return 200, self.metrics(), METRICS_TYPE
        status, body, content_type = self.answer(method, target, headers)
        self.count(status)
        return status, body, content_type

    def answer(self, method, target, headers):
        if method not in (b"GET", b"HEAD"):
            return 405, b"method not allowed\n", TEXT
        if target == self.health_path or target.startswith(self.health_path + b"?"):
            return 200, b"ok\n", TEXT
        now = self.clock.now().local
        if b"application/json" in headers.get(b"accept", b""):
            return 200, json.dumps({"host": self.hostname, "port": self.port, "time": now}).encode(), b"application/json"
        title = html.escape(headers.get(b"host", b"").decode("latin-1"), quote=True)
        return 200, PAGE.format(title=title, port=self.port, time=now).encode(), b"text/html; charset=utf-8"

    def refuse(self, status, message, method, fields=b""):
        """(status, response, keep-alive, then) of a refused stream request: `message` names what is wrong."""
        self.count(status)
        body = message.encode() + b"\n"
        response = self.head(status, len(body), TEXT, CLOSE, fields) + (b"" if method == b"HEAD" else body)
        return status, response, False, None

    def open_websocket(self, method, target, minor, headers, length, keep_alive):  # pylint: disable=unused-argument
        """GET /ws: the 101 of a valid RFC 6455 handshake, else 400 (426 for another version) naming the field."""
        key = headers.get(b"sec-websocket-key", b"")
        if method != b"GET" or minor != b"1":
            return self.refuse(400, "websocket upgrade: must be GET with HTTP/1.1", method)
        if length:
            return self.refuse(400, "websocket upgrade: Content-Length: must be 0, got %d" % length, method)
        if b"websocket" not in tokens(headers.get(b"upgrade", b"")):
            return self.refuse(400, "websocket upgrade: Upgrade: must list websocket", method)
        if b"upgrade" not in tokens(headers.get(b"connection", b"")):
            return self.refuse(400, "websocket upgrade: Connection: must list upgrade", method)
        if headers.get(b"sec-websocket-version") != b"13":
            return self.refuse(426, "websocket upgrade: Sec-WebSocket-Version: must be 13", method,
                               b"\r\nSec-WebSocket-Version: 13")
        if WEBSOCKET_KEY.match(key) is None:
            return self.refuse(400, "websocket upgrade: Sec-WebSocket-Key: must be the base64 of 16 bytes", method)
        accept = base64.b64encode(hashlib.sha1(key + WEBSOCKET_GUID).digest())
        self.count(101)
        head = self.head_with(101, b"\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: " + accept,
                              b"\r\nConnection: Upgrade")
        return 101, head, True, Connection.upgrade

    def open_events(self, method, target, minor, headers, length, keep_alive):  # pylint: disable=unused-argument
        """GET /events[?count=N&interval_ms=M]: the head of an event stream, and
        its events (`data: HOSTNAME:PORT n`) to send one at a time after it."""
        values = {}
        for item in target.partition(b"?")[2].split(b"&"):
            name, dummy, value = item.partition(b"=")
            if not item:
                continue
            if name not in EVENT_LIMITS:
                return self.refuse(400, "/events: unknown parameter %r (known: count, interval_ms)"
                                   % name.decode("ascii", "backslashreplace"), method)
            least, most, dummy = EVENT_LIMITS[name]
            if name in values or EVENT_VALUE.match(value) is None or not least <= int(value) <= most:
                return self.refuse(400, "/events: %s: must be given once, %d-%d, got %r"
                                   % (name.decode(), least, most, value.decode("ascii", "backslashreplace")), method)
            values[name] = int(value)
        count, interval_ms = (values.get(name, limits[2]) for name, limits in EVENT_LIMITS.items())
        chunked = minor == b"1"  # HTTP/1.0 has no chunks: the close ends the stream
        keep_alive = keep_alive and chunked
        self.count(200)
        head = self.head_with(200, EVENTS_FIELDS + (b"\r\nTransfer-Encoding: chunked" if chunked else b""),
                              CONNECTION[keep_alive, minor])
        if method == b"HEAD":
            return 200, head, keep_alive, None
        events = [b"id: %d\ndata: %s %d\n\n" % (number, self.backend_field, number) for number in range(1, count + 1)]
        return 200, head, keep_alive, functools.partial(Connection.stream_events, events=events,
                                                        interval_s=interval_ms / 1000.0, chunked=chunked,
                                                        keep_alive=keep_alive)

    def head(self, status, length, content_type, connection, fields=b""):
        """A response head with a body of `length` bytes; `connection` from CONNECTION."""
        return self.head_with(status, b"\r\nContent-Type: %s\r\nContent-Length: %d%s" % (content_type, length, fields),
                              connection)

    def head_with(self, status, fields, connection):
        """A response head: the usual fields, then `fields` (each after a CRLF) and `connection`."""
        return b"".join((
            b"HTTP/1.1 %d %s\r\nServer: edgeops-app-server\r\nDate: " % (status, REASONS[status]),
            self.clock.now().date, fields, b"\r\nX-Backend: ", self.backend_field, self.version_field, connection,
            b"\r\n\r\n"))


def parse_head(head):
    """(method, target, HTTP minor version, headers, body length) of a request
    head, or the error status (an int) to answer it with before closing."""
    if HEAD.fullmatch(head) is None:
        return 400
    lines = head.split(b"\r\n")
    method, target, version = lines[0].split(b" ")
    headers, repeated = {}, {}
    for line in lines[1:]:
        name, dummy, value = line.partition(b":")
        name, value = name.lower(), value.strip()  # HEAD allowed no whitespace but space and tab
        if name not in headers:
            headers[name] = value
        elif name in SINGLE_FIELDS:
            return 400
        else:
            repeated.setdefault(name, [headers[name]]).append(value)
    for name, values in repeated.items():
        # RFC 9110 5.3: the field lines of one name are one list (Connection: a / Connection: close);
        # joined once, so 16,000 lines `X: y` cost linear time.
        headers[name] = b", ".join(values)
    if b"transfer-encoding" in headers:
        # The app reads no bodies; nginx sends Content-Length (it buffers them).
        return 411 if headers[b"transfer-encoding"].lower() == b"chunked" else 501
    length = headers.get(b"content-length")
    if length is None:
        return method, target, version[-1:], headers, 0
    if not length.isdigit() or len(length) > MAX_LENGTH_DIGITS:  # bytes.isdigit(): ASCII digits only
        return 400
    return method, target, version[-1:], headers, int(length)


def tokens(value):
    """The lower-case tokens of a comma-separated list field (RFC 9110 5.6.1), empty elements dropped."""
    return {token for token in (item.strip(b" \t").lower() for item in value.split(b",")) if token}


def persistent(minor, headers):
    """Whether the connection persists after this request's response (RFC 9112 9.3):
    never with the "close" option; for HTTP/1.1, otherwise always; for HTTP/1.0,
    only with the "keep-alive" option."""
    connection = headers.get(b"connection")
    if not connection:
        return minor == b"1"
    options = tokens(connection)
    if b"close" in options:
        return False
    return minor == b"1" or b"keep-alive" in options


class Tracked(asyncio.Protocol):
    """A connection in the server's set (`connections`, its subclass sets it
    and `transport`): the sweep calls expire() once `deadline` (event loop
    time, None for none) has passed."""

    def connection_lost(self, exc):
        self.transport = None
        self.connections.discard(self)

    def abort(self):
        if self.transport is not None:
            self.transport.abort()
            self.transport = None
        self.connections.discard(self)

    def expire(self):
        raise NotImplementedError


class Connection(Tracked):
    """One client connection: requests in order, one response each.

    `deadline` (event loop time, None for none) is when the server's sweep
    closes the connection: the clock runs while it waits for a head, a body,
    the next request or a client that does not read, never while a response
    is being delayed (--latency-ms)."""

    def __init__(self, app, connections):
        self.app = app
        self.connections = connections
        self.loop = asyncio.get_running_loop()
        # Unanswered input. bytes while it is one read (no copy); a bytearray
        # while a head comes in pieces, so a head sent a byte at a time costs
        # linear time, not quadratic.
        self.buffer = b""
        self.scanned = 0  # bytes of buffer already searched for the end of the head
        self.body_left = 0  # bytes of the current request's body still to drop
        self.transport = None
        self.waiting = False  # a delayed response is pending (--latency-ms)
        self.write_paused = False  # the client does not read its responses
        self.read_paused = False
        self.closing = False  # the last response went out: drop any input until closed
        self.input_ended = False  # the client half-closed: answer what it sent whole, then close
        self.upgrade_to = None  # the protocol that takes the connection over (a WebSocket after its 101)
        self.phase = "head"
        self.deadline = None

    def connection_made(self, transport):
        self.transport = transport
        self.connections.add(self)
        self.deadline = self.loop.time() + self.app.header_timeout
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data):
        if self.closing:
            return
        self.buffer += data
        try:
            buffer = self.buffer
            pos = self.process(buffer)
            if not self.closing:
                rest = len(buffer) - pos
                self.buffer = b"" if not rest else buffer if not pos else bytearray(buffer[pos:])
            if self.upgrade_to is not None:
                self.hand_over()
        except Exception as exc:  # pylint: disable=broad-except
            # A bug must cost one connection and one line in the journal, not the process or a traceback.
            log("dropped a connection: %s: %s" % (type(exc).__name__, exc))
            self.abort()

    def eof_received(self):
        """The client sent all it will send. A request it sent whole is still
        answered (a half-close is no abort, RFC 9112 9.6), also after a delay
        (--latency-ms); the connection closes when nothing is left to answer."""
        if self.closing:
            return False  # the close it lingered for
        self.input_ended = True
        self.data_received(b"")
        return True  # expect() closes it once it would wait for input

    def pause_writing(self):
        # The client does not read: stop reading its requests until it does, and give it idle_timeout.
        self.write_paused = True
        if not self.closing:  # a lingering close keeps its own deadline
            self.deadline = self.loop.time() + self.app.idle_timeout

    def resume_writing(self):
        self.write_paused = False
        if not self.closing:
            self.deadline = None
            self.data_received(b"")

    def process(self, buffer):
        """Answer every complete request in buffer (a loop, not recursion:
        10,000 pipelined requests are 10,000 iterations), then wait for input.
        Returns how much of buffer it used up."""
        pos, size = 0, len(buffer)
        while self.transport is not None and not self.closing:
            if self.body_left:  # the app reads no bodies: drop them as they come
                dropped = min(self.body_left, size - pos)
                pos += dropped
                self.body_left -= dropped
                if self.body_left:
                    self.expect("body")
                    return pos
            if self.waiting or self.write_paused:
                if not self.write_paused:
                    self.deadline = None  # the delay is ours, not the client's
                if size - pos > MAX_HEAD and not self.read_paused:
                    self.read_paused = True  # bounded input while it cannot answer
                    self.transport.pause_reading()
                return pos
            end = buffer.find(b"\r\n\r\n", pos + self.scanned)
            if end < 0 or end - pos > MAX_HEAD:
                if size - pos > MAX_HEAD:
                    self.fail(431)
                    return pos
                self.scanned = max(0, size - pos - 3)  # a slow head is searched once, not once per piece
                self.expect("head" if size > pos else "idle")
                return pos
            head = buffer[pos:end]
            request = parse_head(head if type(head) is bytes else bytes(head))  # pylint: disable=unidiomatic-typecheck
            pos, self.scanned = end + 4, 0
            if isinstance(request, int):
                self.fail(request)
                return pos
            method, target, minor, headers, length = request
            if length > self.app.max_body:
                self.fail(413)
                return pos
            self.body_left = length
            keep_alive = persistent(minor, headers)
            stream = self.app.streams.get(target.partition(b"?")[0]) if method in (b"GET", b"HEAD") else None
            then = None  # what takes the connection over once the head went out
            if stream is not None:
                status, response, keep_alive, then = stream(method, target, minor, headers, length, keep_alive)
            else:
                status, body, content_type = self.app.respond(method, target, headers)
                response = (self.app.head(status, len(body), content_type, CONNECTION[keep_alive, minor])
                            + (b"" if method == b"HEAD" else body))
            if self.app.access_log:
                peer = self.transport.get_extra_info("peername") or ("-",)
                # backslashreplace: the request's bytes cannot forge or break journal lines.
                sys.stdout.write("%s %s %s %d\n" % (peer[0], method.decode("ascii", "backslashreplace"),
                                                    target.decode("ascii", "backslashreplace"), status))
                sys.stdout.flush()
            if self.app.latency_s:
                self.waiting = True
                self.deadline = None
                self.loop.call_later(self.app.latency_s, self.send_delayed, response, keep_alive, then)
                continue  # drop its body meanwhile, then wait
            self.send(response, keep_alive, size > pos or self.body_left, then)
        return pos

    def expect(self, phase):
        """process() waits for input: start the clock of what it waits for, once
        per phase, so a client that sends a byte at a time does not extend it.
        A client that half-closed sends nothing more: close instead."""
        if self.input_ended:
            self.close_gently(linger=False)
            return
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()
        if phase != self.phase or self.deadline is None:
            self.phase = phase
            self.deadline = self.loop.time() + (self.app.idle_timeout if phase == "idle" else self.app.header_timeout)

    def send(self, response, keep_alive, unread, then=None):
        self.transport.write(response)
        self.phase = None  # the next input starts a new clock
        if then is not None:
            then(self)
        elif not keep_alive:
            self.close_gently(linger=bool(unread))

    def send_delayed(self, response, keep_alive, then):
        self.waiting = False
        if self.transport is None or self.closing or self.transport.is_closing():
            return
        self.send(response, keep_alive, self.buffer or self.body_left, then)
        if self.transport is not None and not self.closing:
            self.data_received(b"")  # the requests that came meanwhile

    def stream_events(self, events, interval_s, chunked, keep_alive):
        """After the head of GET /events: the events, one write each,
        `interval_s` apart, then the end of the response. Requests that come
        meanwhile wait (bounded, as during --latency-ms)."""
        self.waiting = True
        self.deadline = None

        def send_event(index):
            if self.transport is None or self.closing or self.transport.is_closing():
                return
            event = events[index]
            self.transport.write(b"%x\r\n%s\r\n" % (len(event), event) if chunked else event)
            if index + 1 < len(events):
                self.loop.call_later(interval_s, send_event, index + 1)
                return
            if chunked:
                self.transport.write(b"0\r\n\r\n")
            self.waiting = False
            if not keep_alive:
                self.close_gently(linger=bool(self.buffer or self.body_left))
            else:
                # The requests that came meanwhile, once this call returns: a one-event
                # stream ends within process(), whose buffer is not trimmed yet.
                self.loop.call_soon(self.data_received, b"")
        send_event(0)

    def upgrade(self):
        """After a 101: a WebSocket takes the connection over, in hand_over()."""
        self.waiting = True  # process() stops reading requests
        self.upgrade_to = WebSocket(self.app, self.connections)

    def hand_over(self):
        """Give the transport and the input after the upgrade request to the WebSocket."""
        protocol, rest, transport = self.upgrade_to, bytes(self.buffer), self.transport
        self.upgrade_to, self.buffer, self.transport, self.closing = None, b"", None, True
        self.connections.discard(self)
        if self.read_paused:
            transport.resume_reading()
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        if rest:
            protocol.data_received(rest)
        if self.input_ended and not protocol.eof_received():
            transport.close()

    def fail(self, status):
        """Answer an error status and close. Every caller returns right after."""
        body = b"%d %s\n" % (status, REASONS[status])
        self.app.count(status)
        self.transport.write(self.app.head(status, len(body), TEXT, CLOSE) + body)
        self.close_gently(linger=True)

    def close_gently(self, linger):
        """Close after the response. With `linger`, when the client may still
        be sending: send FIN and drop its input for LINGER_S instead, since
        closing a socket with unread input sends a reset, and the client could
        lose the response (a 413 while it still uploads)."""
        self.buffer = b""
        self.body_left = 0
        self.closing = True
        self.deadline = self.loop.time() + LINGER_S
        if not linger or self.input_ended or not self.transport.can_write_eof():
            self.transport.close()
            return
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()
        self.transport.write_eof()

    def expire(self):
        """The deadline passed: 408 for a head begun but not finished, a plain
        close for an idle connection, a reset for one that does not read or linger."""
        if self.closing or self.write_paused or self.waiting:
            self.abort()
        elif self.phase == "head" and self.buffer:
            self.fail(408)
        else:
            self.closing = True
            self.transport.close()
            self.deadline = self.loop.time() + LINGER_S


def unmask(payload, mask):
    """A client frame's payload XOR its 4-byte mask, as one big-integer XOR (no Python loop per byte)."""
    size = len(payload)
    if not size:
        return b""
    key = (mask * (size // 4 + 1))[:size]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(size, "little")


def frame(opcode, payload):
    """One unfragmented, unmasked server frame."""
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", 0x80 | opcode, size)
    elif size < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 126, size)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, size)
    return head + payload


TEXT_FRAME, BINARY_FRAME, CLOSE_FRAME, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA
# Close codes a peer may send (RFC 6455 7.4): the defined ones, and 3000-4999 for libraries and applications.
CLOSE_CODES = frozenset((1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011)) | frozenset(range(3000, 5000))


class WebSocket(Tracked):
    """An upgraded connection (RFC 6455): text and binary messages echoed,
    ping answered with pong, a close answered with a close and the end of
    the connection. A message (fragmented or not) over --max-message gets
    close 1009, an unmasked or malformed frame 1002, text that is not UTF-8
    1007, no complete frame for --idle-timeout 1001. Memory: one message and
    one read at most; a client that does not read its echoes is not read."""

    def __init__(self, app, connections):
        self.app = app
        self.connections = connections
        self.loop = asyncio.get_running_loop()
        self.transport = None
        self.buffer = bytearray()
        self.message_opcode = None  # of a fragmented message being assembled
        self.parts = []
        self.message_size = 0
        self.closing = False
        self.write_paused = False
        self.deadline = None

    def connection_made(self, transport):
        self.transport = transport
        self.connections.add(self)
        self.deadline = self.loop.time() + self.app.idle_timeout

    def data_received(self, data):
        if self.closing:
            return
        self.buffer += data
        try:
            self.process()
        except Exception as exc:  # pylint: disable=broad-except
            log("dropped a websocket: %s: %s" % (type(exc).__name__, exc))
            self.abort()

    def eof_received(self):
        return False  # closed without a close frame, or the end of our close handshake: close

    def pause_writing(self):
        self.write_paused = True
        self.transport.pause_reading()

    def resume_writing(self):
        if self.write_paused and not self.closing:
            self.write_paused = False
            self.transport.resume_reading()
            self.data_received(b"")

    def process(self):
        """Act on every complete frame in the buffer, then keep the rest."""
        buffer, pos = self.buffer, 0
        while not self.closing and not self.write_paused:
            parsed = self.parse(buffer, pos)
            if parsed is None:
                break
            if isinstance(parsed, int):
                self.fail(parsed)
                return
            pos, fin, opcode, payload = parsed
            self.deadline = self.loop.time() + self.app.idle_timeout
            self.act(fin, opcode, payload)
        del buffer[:pos]

    def parse(self, buffer, pos):
        """(end, fin, opcode, payload) of the frame at pos, None while it is
        incomplete, or the close code that refuses it (as soon as its head tells)."""
        size = len(buffer) - pos
        if size < 2:
            return None
        first, second = buffer[pos], buffer[pos + 1]
        fin, opcode, length = first & 0x80, first & 0x0F, second & 0x7F
        if first & 0x70 or not second & 0x80:  # no extension was agreed; client frames are masked
            return 1002
        if opcode not in (0, TEXT_FRAME, BINARY_FRAME, CLOSE_FRAME, PING, PONG):
            return 1002
        if opcode >= CLOSE_FRAME and (not fin or length > 125):
            return 1002
        # A fragmented message takes continuations (and control frames between them), nothing else.
        if opcode < CLOSE_FRAME and (opcode == 0) != (self.message_opcode is not None):
            return 1002
        start = pos + 2
        if length == 126:
            if size < 4:
                return None
            length, start = struct.unpack_from("!H", buffer, start)[0], start + 2
        elif length == 127:
            if size < 10:
                return None
            length, start = struct.unpack_from("!Q", buffer, start)[0], start + 8
        if opcode < CLOSE_FRAME and self.message_size + length > self.app.max_message:
            return 1009
        end = start + 4 + length
        if len(buffer) < end:
            return None
        return end, fin, opcode, unmask(bytes(buffer[start + 4:end]), bytes(buffer[start:start + 4]))

    def act(self, fin, opcode, payload):
        if opcode == PING:
            self.transport.write(frame(PONG, payload))
        elif opcode == CLOSE_FRAME:
            self.closed_by_client(payload)
        elif opcode != PONG:
            if not fin:
                self.message_opcode = self.message_opcode or opcode
                self.parts.append(payload)
                self.message_size += len(payload)
                return
            if self.message_opcode is not None:
                opcode, payload = self.message_opcode, b"".join(self.parts + [payload])
                self.message_opcode, self.parts, self.message_size = None, [], 0
            if opcode == TEXT_FRAME and not valid_utf8(payload):
                self.fail(1007)
                return
            self.transport.write(frame(opcode, payload))

    def closed_by_client(self, payload):
        """Its close answered with the same code, then the end of the connection (the server closes first)."""
        if len(payload) == 1:
            self.fail(1002)
            return
        if payload:
            code = struct.unpack_from("!H", payload)[0]
            if code not in CLOSE_CODES:
                self.fail(1002)
                return
            if not valid_utf8(payload[2:]):
                self.fail(1007)
                return
        self.closing = True
        self.transport.write(frame(CLOSE_FRAME, payload[:2]))
        self.transport.close()
        self.deadline = self.loop.time() + LINGER_S

    def fail(self, code):
        """Close with `code`: the close frame, then drop the client's input
        for LINGER_S (its close frame or the rest of an oversize one)."""
        self.closing = True
        self.buffer = bytearray()
        self.parts = []
        self.transport.write(frame(CLOSE_FRAME, struct.pack("!H", code)))
        self.deadline = self.loop.time() + LINGER_S
        if self.write_paused:
            self.transport.resume_reading()
        if self.transport.can_write_eof():
            self.transport.write_eof()
        else:
            self.transport.close()

    def expire(self):
        """No complete frame for --idle-timeout: close 1001; a close that lingers too long: reset."""
        if self.closing or self.write_paused:
            self.abort()
        else:
            self.fail(1001)


def valid_utf8(data):
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class AppServer:
    """The listening socket and its event loop. serve_forever() runs the loop
    in the calling thread until shutdown() (from any thread) or, when called
    from the main thread, SIGTERM or SIGINT."""

    def __init__(self, address, latency_ms=0, access_log=False, header_timeout=DEFAULT_HEADER_TIMEOUT,
                 idle_timeout=DEFAULT_IDLE_TIMEOUT, max_body=DEFAULT_MAX_BODY, version="", health_path="/healthz",
                 max_message=DEFAULT_MAX_MESSAGE):
        self.loop = asyncio.new_event_loop()
        self.loop.set_exception_handler(self.loop_error)
        self.connections = set()
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.server = self.loop.run_until_complete(self.loop.create_server(
            lambda: Connection(self.app, self.connections), address[0], address[1], family=family, backlog=1024,
            reuse_address=True))
        self.server_address = self.server.sockets[0].getsockname()[:2]
        self.server_port = self.server_address[1]
        self.app = App(self.server_port, latency_ms, access_log, header_timeout, idle_timeout, max_body,
                       version, health_path, max_message)
        self.backend = self.app.backend
        # One sweep for all deadlines: a timer per request would cost more than the request.
        self.tick = min(1.0, max(0.05, min(header_timeout, idle_timeout, LINGER_S) / 4))
        self.loop.call_soon(self.sweep)

    def sweep(self):
        now = self.loop.time()
        expired = [c for c in self.connections if c.deadline is not None and c.deadline <= now]
        # A batch at a time, requests served in between: 2,000 expiring at once cost 70 ms in one go.
        for connection in expired[:SWEEP_BATCH]:
            try:
                connection.expire()
            except Exception as exc:  # pylint: disable=broad-except
                log("dropped a connection at its deadline: %s: %s" % (type(exc).__name__, exc))
                connection.abort()
        if len(expired) > SWEEP_BATCH:
            self.loop.call_soon(self.sweep)
        else:
            self.loop.call_later(self.tick, self.sweep)

    @staticmethod
    def loop_error(loop, context):  # pylint: disable=unused-argument
        """asyncio's own errors (out of descriptors in accept, a reset mid-write): one line each."""
        exc = context.get("exception")
        log("%s%s" % (context.get("message", "error"), ": %s: %s" % (type(exc).__name__, exc) if exc else ""))

    def serve_forever(self, signals=False):
        if signals:
            for signum in (signal.SIGTERM, signal.SIGINT):
                self.loop.add_signal_handler(signum, self.loop.stop)
        self.loop.run_forever()
        self.server.close()
        for connection in list(self.connections):
            connection.abort()
        self.loop.run_until_complete(self.server.wait_closed())
        self.loop.close()

    def shutdown(self):
        self.loop.call_soon_threadsafe(self.loop.stop)


# ------------------------------------------------------------ TCP and UDP
# The same program answers the load balancer's streams (--mode tcp|udp):
# each TCP connection gets one line `HOSTNAME:PORT\n` and is closed, each UDP
# datagram one datagram with that line. Nothing is read or kept, so a
# client can cost no more than one short write.

MAX_DATAGRAM = 512  # larger datagrams are not answered (no reflection of big packets)


class LineProtocol(asyncio.Protocol):
    """TCP: the backend's name on connect, then close (close waits for the write)."""

    def __init__(self, owner):
        self.owner = owner

    def connection_made(self, transport):
        self.owner.answered += 1
        transport.write(self.owner.answer)
        transport.close()

    def data_received(self, data):
        """Whatever a client sends is not read: the answer is already on its way."""


class DatagramLineProtocol(asyncio.DatagramProtocol):
    """UDP: one datagram answered by one datagram with the backend's name."""

    def __init__(self, owner):
        self.owner = owner
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        if len(data) > MAX_DATAGRAM:
            self.owner.refused += 1
            return
        self.owner.answered += 1
        self.transport.sendto(self.owner.answer, addr)

    def error_received(self, exc):
        log("udp: %s: %s" % (type(exc).__name__, exc))


class StreamServer:
    """The TCP or UDP listener of --mode tcp|udp on its own event loop;
    serve_forever() and shutdown() as AppServer's."""

    def __init__(self, address, mode):
        self.loop = asyncio.new_event_loop()
        self.loop.set_exception_handler(AppServer.loop_error)
        self.answered = 0
        self.refused = 0
        self.answer = b""
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.server = self.transport = None
        if mode == "tcp":
            self.server = self.loop.run_until_complete(self.loop.create_server(
                lambda: LineProtocol(self), address[0], address[1], family=family, backlog=1024,
                reuse_address=True))
            self.server_address = self.server.sockets[0].getsockname()[:2]
        else:
            self.transport, dummy = self.loop.run_until_complete(self.loop.create_datagram_endpoint(
                lambda: DatagramLineProtocol(self), local_addr=address, family=family))
            self.server_address = self.transport.get_extra_info("sockname")[:2]
        self.server_port = self.server_address[1]
        self.backend = "%s:%d" % (socket.gethostname(), self.server_port)
        self.answer = (self.backend + "\n").encode()

    def serve_forever(self, signals=False):
        if signals:
            for signum in (signal.SIGTERM, signal.SIGINT):
                self.loop.add_signal_handler(signum, self.loop.stop)
        self.loop.run_forever()
        if self.server is not None:
            self.server.close()
            self.loop.run_until_complete(self.server.wait_closed())
        else:
            self.transport.close()
        self.loop.close()

    def shutdown(self):
        """Stop the loop (from any thread); a second call does nothing."""
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.loop.stop)


def serve_stream(args):
    """main() of --mode tcp|udp."""
    server = StreamServer((args.bind, args.port), args.mode)
    print("app server (%s) started on %s:%d" % (args.mode, args.bind, args.port), flush=True)
    server.serve_forever(signals=True)
    print("app server (%s) on %s:%d stopped" % (args.mode, args.bind, args.port), flush=True)
    return 0


def switch(value):
    """--access-log alone, or --access-log=yes/no (the unit passes one argument per setting)."""
    if value.lower() in ("1", "yes", "true", "on"):
        return True
    if value.lower() in ("", "0", "no", "false", "off"):
        return False
    raise argparse.ArgumentTypeError("expected yes or no, got %r" % value)


def seconds(value):
    number = float(value)
    if not 0 < number <= 86400:
        raise argparse.ArgumentTypeError("expected 0 < seconds <= 86400, got %r" % value)
    return number


def message_bytes(value):
    """--max-message: a whole number of bytes, 1 byte to 16 MiB (a message is held whole while it comes)."""
    if re.match(r"\A[0-9]{1,8}\Z", value) is None or not 1 <= int(value) <= 1 << 24:
        raise argparse.ArgumentTypeError("--max-message must be 1-%d bytes, got %r" % (1 << 24, value))
    return int(value)


def pattern(regex, what):
    """An argparse type: the value if it matches the anchored `regex`, else an error naming `what`."""
    compiled = re.compile(regex)

    def check(value):
        if not compiled.match(value):
            raise argparse.ArgumentTypeError("%s must match %s, got %r" % (what, regex, value))
        return value
    return check


# The same allow-lists as the app_servers role's preflight: both go into the response head.
VERSION_RE = r"\A[A-Za-z0-9][A-Za-z0-9._+-]{0,63}\Z"
HEALTH_PATH_RE = r"\A/[A-Za-z0-9._~/-]{0,200}\Z"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--access-log", type=switch, nargs="?", const=True, default=False)
    parser.add_argument("--header-timeout", type=seconds, default=DEFAULT_HEADER_TIMEOUT,
                        help="seconds for a request head to arrive, and as long again for its body "
                             "(default %(default)s)")
    parser.add_argument("--idle-timeout", type=seconds, default=DEFAULT_IDLE_TIMEOUT,
                        help="seconds a keep-alive connection may wait for its next request, or a client not "
                             "read its responses (default %(default)s: above nginx's upstream keepalive_timeout)")
    parser.add_argument("--max-body", type=int, default=DEFAULT_MAX_BODY,
                        help="largest request body in bytes, read and dropped; larger ones get 413 "
                             "(default %(default)s)")
    parser.add_argument("--max-message", type=message_bytes, default=DEFAULT_MAX_MESSAGE,
                        help="largest WebSocket message on /ws in bytes, fragments together; larger ones get close "
                             "1009 (default %(default)s)")
    parser.add_argument("--app-version", type=pattern(VERSION_RE, "--app-version"), default=None,
                        help="release label sent in the X-App-Version response header (default: none)")
    parser.add_argument("--health-path", type=pattern(HEALTH_PATH_RE, "--health-path"), default="/healthz",
                        help="path that answers 200 ok (default %(default)s)")
    parser.add_argument("--mode", choices=("http", "tcp", "udp"), default="http",
                        help="http (the tutorial's app), or tcp / udp: one line HOSTNAME:PORT per connection or "
                             "datagram, for the load balancer's streams (default %(default)s)")
    args = parser.parse_args(argv)
    if args.mode != "http":
        return serve_stream(args)

    server = AppServer((args.bind, args.port), args.latency_ms, args.access_log, args.header_timeout,
                       args.idle_timeout, args.max_body, args.app_version, args.health_path, args.max_message)
    print("app server started on %s:%d (latency %d ms, version %s)"
          % (args.bind, args.port, args.latency_ms, args.app_version or "-"), flush=True)
    server.serve_forever(signals=True)
    print("app server on %s:%d stopped" % (args.bind, args.port), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
