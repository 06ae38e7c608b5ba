# -*- coding: utf-8 -*-
# Copyright: edgeops engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A bounded HTTP poller that counts which backend answered.

Standard library only (it runs on the target, and the resilience scenario
copies this file alone). One asyncio loop runs `concurrency` workers; each
keeps one raw HTTP/1.1 keep-alive connection (an asyncio Protocol: one write
per request, the response head parsed from bytes, the body read only as far
as its framing and BODY_LIMIT need). The loop stops after `requests`
requests or at the deadline, whichever comes first, and poll() returns
within about a second of the deadline: the idle timeout of a connection
never exceeds the time left, and at the deadline the connections still in
use are aborted (a server that drips its answer a byte at a time would
otherwise hold a worker for ever). Requests cut off that way are counted in
`abandoned`, not as failures.

Failures are counted, never raised; an unexpected exception in a worker is
counted as an error whose kind carries its message. Like browsers and most
HTTP clients, a GET that finds its reused keep-alive connection closed
before any response byte is sent once more on a new connection (RFC 9112,
9.3.1); `retried` counts those.

Only the first BODY_LIMIT bytes of a body are read (the regex sees those);
a longer body is not read further, its connection is closed instead.
"""

from __future__ import annotations

import asyncio
import http.client
import re
import socket
import ssl
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

BODY_LIMIT = 64 * 1024
# A response head (status line and headers) longer than this is refused.
HEAD_LIMIT = 64 * 1024
# After the deadline, how long poll() waits for its workers to wind down.
GRACE_S = 0.5
_MESSAGE_CHARS = 200
# Numbers read from the wire: ASCII digits only (int() would take a sign,
# a 0x prefix, underscores, spaces and non-ASCII digits).
_CHUNK_SIZE_RE = re.compile(rb"\A[0-9A-Fa-f]{1,15}\Z")
_LENGTH_RE = re.compile(r"\A[0-9]{1,18}\Z")


@dataclass
class PollResult:
    requests: int = 0
    counts: dict = field(default_factory=dict)   # backend label -> responses
    errors: dict = field(default_factory=dict)   # kind -> occurrences
    latencies_ms: list = field(default_factory=list)
    elapsed_s: float = 0.0
    deadline_hit: bool = False
    # Requests sent again because the server had closed an idle keep-alive
    # connection (an nginx reload does that); counted once, as their retry.
    retried: int = 0
    # Requests in flight at the deadline, cut off (not in `requests`).
    abandoned: int = 0
    # Responses whose body was longer than BODY_LIMIT (their connection was closed).
    truncated: int = 0
    # keep_cookie: each worker is one client that keeps the cookie; its
    # backends (label -> responses), one dict per worker that was answered.
    sessions: list = field(default_factory=list)
    # keep_cookie: how many workers were ever given the cookie (Set-Cookie).
    cookies_set: int = 0

    @property
    def failed(self):
        return sum(self.errors.values())

    @property
    def requests_per_s(self):
        return self.requests / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def percentile_ms(self, fraction):
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))], 3)


def redact_url(url):
    """`url` without credentials (user:password@), for anything people read."""
    text = str(url)
    try:
        parts = urlsplit(text)
    except ValueError:
        parts = None
    if parts is not None and "@" in parts.netloc:
        return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    # Not parsed as a URL with a netloc: strip anything that looks like userinfo.
    return re.sub(r"(//|^|[\s'\"])[^/@\s'\"]*@", r"\1", text)


def split_url(url):
    """(scheme, host, port, base path) of an http(s) URL; raises ValueError
    naming the URL without its credentials."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError("url %s is not a valid URL: %s" % (redact_url(url), exc))
    if parts.scheme not in ("http", "https"):
        raise ValueError("url must be http:// or https://, got %r" % redact_url(url))
    if not parts.hostname:
        raise ValueError("url has no host: %r" % redact_url(url))
    if parts.query or parts.fragment:
        raise ValueError("url must not have a query or fragment: %r" % redact_url(url))
    port = port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, parts.hostname, port, parts.path.rstrip("/")


def _describe(exc):
    message = " ".join(str(exc).split())
    if len(message) > _MESSAGE_CHARS:
        message = message[:_MESSAGE_CHARS - 3] + "..."
    return "%s: %s" % (exc.__class__.__name__, message) if message else exc.__class__.__name__


def tls_context(ca_file=None, validate_certs=True, ca_data=None):
    """The client TLS context of an https URL: the system's trust store, or
    only the certificates of `ca_file` (or of `ca_data`, its PEM text
    already read); with validate_certs=False no check of the chain or the
    name. SNI is the URL's host or poll()'s server_name (the ssl module
    sends it for a name, not for an IP address, as browsers do)."""
    context = ssl.create_default_context(cafile=None if ca_data else ca_file, cadata=ca_data)
    if not validate_certs:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


# ------------------------------------------------------------ the wire

# What http.client refuses in a request target (control characters, space).
_TARGET_BAD = re.compile(r"[\x00-\x20\x7f]")
_HEADER_BAD = re.compile(r"[\r\n]")


def request_bytes(target, host, port, scheme, headers):
    """The bytes of one GET, as http.client would send them (Host,
    Accept-Encoding: identity, then `headers`); raises what http.client
    raises for a target with control characters or a non-ASCII one."""
    target = target or "/"
    if _TARGET_BAD.search(target):
        raise http.client.InvalidURL("URL can't contain control characters. %r" % target)
    names = set(name.lower() for name in headers)
    lines = ["GET %s HTTP/1.1" % target]
    if "host" not in names:
        shown = "[%s]" % host if ":" in host else host
        default = 443 if scheme == "https" else 80
        lines.append("Host: %s" % (shown if port == default else "%s:%d" % (shown, port)))
    if "accept-encoding" not in names:
        lines.append("Accept-Encoding: identity")
    for name, value in headers.items():
        if _HEADER_BAD.search(str(name)) or _HEADER_BAD.search(str(value)):
            raise ValueError("Invalid header %r: %r" % (name, value))
        lines.append("%s: %s" % (name, value))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


def cookie_value(set_cookie, name):
    """The value `Set-Cookie` (repeated ones joined by ', ') gives the cookie
    `name`, or None."""
    match = re.search(r"(?:\A|, )%s=([^;,\s]*)" % re.escape(name), set_cookie or "")
    return match.group(1) if match else None


def parse_head(head):
    """(HTTP version, status, {lower-case name: value}) of a response head
    (bytes without the blank line); repeated headers joined with ', ' as
    http.client does. Raises http.client.BadStatusLine for a bad status line."""
    lines = bytes(head).decode("iso-8859-1").split("\r\n")
    parts = lines[0].split(None, 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not re.match(r"\A[1-9][0-9][0-9]\Z", parts[1]):
        raise http.client.BadStatusLine(lines[0][:_MESSAGE_CHARS])
    headers = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon:
            continue
        name, value = name.strip().lower(), value.strip()
        headers[name] = headers[name] + ", " + value if name in headers else value
    return parts[0], int(parts[1]), headers


class _Response:
    __slots__ = ("status", "headers", "body", "will_close", "truncated")

    def __init__(self, status, headers, body, will_close, truncated):
        self.status, self.headers, self.body = status, headers, body
        self.will_close, self.truncated = will_close, truncated


class _Connection(asyncio.Protocol):
    """One keep-alive connection: send() writes a GET and returns the future
    of its _Response. The head is parsed once it is complete; the body is
    read as its framing says (Content-Length, chunked, or until the server
    closes), at most BODY_LIMIT bytes of it: past that the response is
    marked truncated and the connection is to be closed. `timeout` is an
    idle timeout: the future fails with socket.timeout when no byte came
    for that long."""

    def __init__(self, loop):
        self.loop = loop
        self.transport = None
        self.buffer = bytearray()
        self.waiter = None
        self.lost = None            # why the connection is gone, once it is
        self.timeout = 5.0
        self.last = 0.0
        self.timer = None
        self.got = 0                # bytes received for the response in flight
        self._reset()

    def _reset(self):
        self.head = None            # (version, status, headers) once parsed
        self.mode = None            # 'length', 'chunked', 'close'
        self.left = 0               # Content-Length left, or the current chunk's bytes left
        self.body = bytearray()
        self.interim = 0            # bytes of interim (1xx) heads before this response's
        self.in_trailer = False
        self.will_close = False

    # -- asyncio.Protocol
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.last = self.loop.time()
        self.buffer += data
        if self.waiter is not None:
            self.got += len(data)
            self._advance()

    def eof_received(self):
        self._gone(None)
        return False

    def connection_lost(self, exc):
        self._gone(exc)

    # -- requests
    def send(self, request, timeout):
        if self.lost is not None:
            raise self.lost
        self.waiter = self.loop.create_future()
        self.got = len(self.buffer)
        self.timeout = timeout
        self.last = self.loop.time()
        if self.timer is None:
            self.timer = self.loop.call_at(self.last + timeout, self._on_timer)
        self.transport.write(request)
        if self.buffer:
            self._advance()
        return self.waiter

    def abort(self):
        if self.transport is not None:
            self.transport.abort()

    def _on_timer(self):
        self.timer = None
        if self.waiter is None or self.waiter.done():
            return
        idle_until = self.last + self.timeout
        if self.loop.time() >= idle_until:
            self._fail(socket.timeout("timed out"))
        else:
            self.timer = self.loop.call_at(idle_until, self._on_timer)

    def _gone(self, exc):
        if self.lost is None:
            self.lost = exc if exc is not None else http.client.RemoteDisconnected(
                "Remote end closed connection without response")
        if self.waiter is None or self.waiter.done():
            return
        if self.head is not None and self.mode == "close":
            self._finish(bytes(self.body), False)
        elif self.got == 0 or exc is not None:
            self._fail(self.lost)
        else:
            self._fail(http.client.IncompleteRead(bytes(self.body)))

    def _fail(self, exc):
        waiter, self.waiter = self.waiter, None
        self._reset()
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        if self.transport is not None:
            self.transport.abort()

    def _finish(self, body, truncated):
        version, status, headers = self.head
        waiter, self.waiter = self.waiter, None
        response = _Response(status, headers, body, self.will_close or truncated, truncated)
        self._reset()
        if waiter is not None and not waiter.done():
            waiter.set_result(response)

    def _advance(self):
        try:
            if self.head is None and not self._read_head():
                return
            if self.mode == "length":
                self._read_length()
            elif self.mode == "chunked":
                self._read_chunked()
            elif len(self.buffer) > BODY_LIMIT - len(self.body):
                self._finish(bytes(self.body) + bytes(self.buffer[:BODY_LIMIT - len(self.body)]), True)
            else:
                self.body += self.buffer
                del self.buffer[:]
        except Exception as exc:  # pylint: disable=broad-except
            self._fail(exc)

    def _read_head(self):
        """Parse the final response head, after any interim (1xx) ones: one
        loop, and HEAD_LIMIT bounds all of them together."""
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0 or self.interim + end > HEAD_LIMIT:
                if self.interim + len(self.buffer) > HEAD_LIMIT:
                    raise http.client.LineTooLong("response head")
                return False
            head = self.buffer[:end]
            del self.buffer[:end + 4]
            version, status, headers = parse_head(head)
            if not 100 <= status < 200 or status == 101:
                break
            self.interim += end + 4          # an interim response: the real one follows
        tokens = [t.strip().lower() for t in headers.get("connection", "").split(",")]
        self.will_close = "close" in tokens or (version == "HTTP/1.0" and "keep-alive" not in tokens) or status == 101
        self.head = (version, status, headers)
        if status in (204, 304):
            self.mode, self.left = "length", 0
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            self.mode, self.left = "chunked", -1
        elif "content-length" in headers:
            if not _LENGTH_RE.match(headers["content-length"]):
                raise http.client.HTTPException("bad Content-Length %r" % headers["content-length"][:_MESSAGE_CHARS])
            self.mode, self.left = "length", int(headers["content-length"])
        else:
            self.mode, self.will_close = "close", True
        return True

    def _read_length(self):
        wanted = min(self.left, BODY_LIMIT)
        if len(self.buffer) < wanted:
            return
        body = bytes(self.buffer[:wanted])
        if self.left > BODY_LIMIT:
            # Longer than we read: the rest is not read, the connection is dropped.
            del self.buffer[:]
            self._finish(body, True)
        else:
            del self.buffer[:wanted]
            self._finish(body, False)

    def _read_chunked(self):
        """self.left: bytes left of the current chunk; -1 a size line is
        next, -2 the CRLF that ends a chunk's data."""
        buffer = self.buffer
        while True:
            if self.in_trailer:
                end = buffer.find(b"\r\n")
                if end < 0:
                    return
                del buffer[:end + 2]
                if end == 0:
                    self._finish(bytes(self.body), False)
                    return
            elif self.left == -2:
                if len(buffer) < 2:
                    return
                if buffer[:2] != b"\r\n":
                    raise http.client.IncompleteRead(bytes(self.body))
                del buffer[:2]
                self.left = -1
            elif self.left == -1:
                end = buffer.find(b"\r\n")
                if end < 0:
                    if len(buffer) > HEAD_LIMIT:
                        raise http.client.LineTooLong("chunk size")
                    return
                size = bytes(buffer[:end]).split(b";", 1)[0].strip(b" \t")
                if not _CHUNK_SIZE_RE.match(size):
                    raise http.client.IncompleteRead(bytes(self.body))
                self.left = int(size, 16)
                del buffer[:end + 2]
                if self.left == 0:
                    self.in_trailer = True
            else:
                take = min(self.left, len(buffer))
                room = BODY_LIMIT - len(self.body)
                if take > room:
                    # Longer than we read: the rest is not read, the connection is dropped.
                    self.body += buffer[:room]
                    del buffer[:]
                    self._finish(bytes(self.body), True)
                    return
                self.body += buffer[:take]
                del buffer[:take]
                self.left -= take
                if self.left > 0:
                    return
                self.left = -2


# ------------------------------------------------------------ the poller

def poll(url, path, requests, concurrency=1, timeout=5.0, deadline_s=120.0, source_address=None,
         backend_header="X-Backend", backend_regex=None, headers=None, ca_file=None, validate_certs=True,
         server_name=None, ca_data=None, keep_cookie=None):
    """GET `url` + `path` `requests` times from `concurrency` workers (one
    asyncio loop, a keep-alive connection each), for at most `deadline_s`
    seconds (returns within GRACE_S of that).
    `keep_cookie` (a cookie name): each worker is one client that sends back
    the cookie it was given (sticky sessions); `sessions` holds each one's backends.
    For https, `ca_file`, `ca_data` and `validate_certs` as in tls_context().
    `server_name` (NAME or NAME:PORT, checked by the caller) is the Host
    header and, over https, the SNI name the certificate is checked against."""
    scheme, host, port, base = split_url(url)
    target = base + path
    pattern = re.compile(backend_regex) if backend_regex else None
    header_name = backend_header.lower()
    request_headers = {"User-Agent": "edgeops.nginx_lb.lb_verify"}
    request_headers.update(headers or {})
    tls_name = host
    if server_name:
        request_headers["Host"] = server_name
        tls_name = server_name.rpartition(":")[0] if ":" in server_name else server_name
    context = tls_context(ca_file, validate_certs, ca_data) if scheme == "https" else None
    local_addr = (source_address, 0) if source_address else None
    try:
        request, bad_request = request_bytes(target, host, port, scheme, request_headers), None
    except Exception as exc:  # pylint: disable=broad-except
        # Every request fails the same way: counted per request, as before.
        request, bad_request = None, exc
    result = PollResult()
    sessions = []
    state = {"issued": 0, "stop": False}
    in_use = set()
    loop = asyncio.new_event_loop()
    deadline = loop.time() + deadline_s

    def time_left():
        return deadline - loop.time()

    def take_ticket():
        if state["stop"] or state["issued"] >= requests:
            return False
        if time_left() <= 0:
            result.deadline_hit = True
            return False
        state["issued"] += 1
        return True

    def record(label, error, latency_ms):
        cut = error and error.startswith(("timeout", "connection")) and time_left() <= 0
        if state["stop"] or cut:
            result.abandoned += 1        # cut off at the deadline
            return
        result.requests += 1
        if error:
            result.errors[error] = result.errors.get(error, 0) + 1
        else:
            result.counts[label] = result.counts.get(label, 0) + 1
            result.latencies_ms.append(latency_ms)

    def idle_timeout():
        """The per-request timeout, never beyond the deadline."""
        return max(0.001, min(timeout, time_left()))

    async def connect():
        connection = _Connection(loop)
        await asyncio.wait_for(loop.create_connection(
            lambda: connection, host, port, ssl=context, server_hostname=tls_name if context else None,
            local_addr=local_addr), idle_timeout())
        in_use.add(connection)
        return connection

    def forget(connection):
        in_use.discard(connection)
        connection.abort()

    async def fetch(connection, request, session=None):
        """(label, error, will_close) of one GET on `connection`; a `session`
        (keep_cookie) takes the cookie the answer sets."""
        response = await connection.send(request, idle_timeout())
        if session is not None:
            value = cookie_value(response.headers.get("set-cookie"), keep_cookie)
            if value is not None and value != session.get("cookie"):
                session["cookie"] = value
                session["request"] = request_bytes(target, host, port, scheme, dict(
                    request_headers, Cookie="%s=%s" % (keep_cookie, value)))
        if response.truncated:
            result.truncated += 1
        if not 200 <= response.status < 300:
            return None, "status %d" % response.status, response.will_close
        if pattern is not None:
            match = pattern.search(response.body.decode("utf-8", "replace"))
            label = match.group(1) if match else None
        else:
            label = response.headers.get(header_name)
        return label, None if label else "unidentified backend", response.will_close

    async def worker():
        connection, reused = None, False
        session = {"request": request, "counts": {}} if keep_cookie else None
        if session is not None:
            sessions.append(session)
        try:
            while take_ticket():
                started = time.perf_counter()
                label, error = None, None
                for attempt in (1, 2):
                    try:
                        if bad_request is not None:
                            raise bad_request
                        if connection is None:
                            connection = await connect()
                            reused = False
                        label, error, will_close = await fetch(
                            connection, request if session is None else session["request"], session)
                        reused = True
                        if will_close:
                            forget(connection)
                            connection = None
                        break
                    except (socket.timeout, asyncio.TimeoutError):
                        error = "timeout"
                    except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                        error = "connection: %s" % (exc.__class__.__name__,)
                        if reused and attempt == 1 and not state["stop"]:
                            forget(connection)
                            connection = None
                            result.retried += 1
                            continue
                    except (OSError, http.client.HTTPException) as exc:
                        error = "connection: %s" % (exc.__class__.__name__,)
                    except Exception as exc:  # pylint: disable=broad-except
                        # Not a network failure: say what it was, do not die silently.
                        error = "error: %s" % _describe(exc)
                    break
                if error and connection is not None and not error.startswith("status"):
                    forget(connection)
                    connection = None
                record(label, error, (time.perf_counter() - started) * 1000.0)
                if session is not None and label and not error:
                    session["counts"][label] = session["counts"].get(label, 0) + 1
        except asyncio.CancelledError:
            result.abandoned += 1        # still connecting after the grace time
        finally:
            if connection is not None:
                forget(connection)

    async def main():
        workers = [loop.create_task(worker()) for dummy in range(max(1, concurrency))]
        dummy, pending = await asyncio.wait(workers, timeout=max(0.0, time_left()))
        if pending:
            # The deadline: no new request, every connection in use aborted.
            result.deadline_hit = True
            state["stop"] = True
            for connection in list(in_use):
                connection.abort()
            dummy, pending = await asyncio.wait(pending, timeout=GRACE_S)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=GRACE_S)

    started = time.perf_counter()
    try:
        loop.run_until_complete(main())
    finally:
        state["stop"] = True
        for connection in list(in_use):
            connection.abort()
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()
    snapshot = PollResult(requests=result.requests, counts=dict(result.counts), errors=dict(result.errors),
                          latencies_ms=list(result.latencies_ms), deadline_hit=result.deadline_hit,
                          retried=result.retried, abandoned=result.abandoned, truncated=result.truncated,
                          sessions=[dict(one["counts"]) for one in sessions if one["counts"]],
                          cookies_set=sum(1 for one in sessions if "cookie" in one))
    snapshot.elapsed_s = time.perf_counter() - started
    return snapshot
