# -*- coding: utf-8 -*-
# Copyright: edgeops engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A bounded HTTP poller that counts which backend answered.

Standard library only (it runs on the target, and the resilience scenario
copies this file alone). Every worker keeps one keep-alive connection; the
loop stops after `requests` requests or at the deadline, whichever comes
first, and poll() returns within about a second of the deadline: socket
timeouts never exceed the time left, and at the deadline the sockets still
in use are shut down (a server that drips its answer a byte at a time would
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

import http.client
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

BODY_LIMIT = 64 * 1024
# After the deadline, how long poll() waits for its workers to wind down.
GRACE_S = 0.5
_MESSAGE_CHARS = 200


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


def tls_context(ca_file=None, validate_certs=True):
    """The client TLS context of an https URL: the system's trust store, or
    only `ca_file`'s certificates; with validate_certs=False no check of the
    chain or the name. SNI is the URL's host (http.client sends it for a
    name, not for an IP address, as browsers do)."""
    context = ssl.create_default_context(cafile=ca_file)
    if not validate_certs:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def poll(url, path, requests, concurrency=1, timeout=5.0, deadline_s=120.0, source_address=None,
         backend_header="X-Backend", backend_regex=None, headers=None, ca_file=None, validate_certs=True):
    """GET `url` + `path` `requests` times from `concurrency` workers, for
    at most `deadline_s` seconds (returns within GRACE_S of that).
    For https, `ca_file` and `validate_certs` as in tls_context()."""
    scheme, host, port, base = split_url(url)
    target = base + path
    pattern = re.compile(backend_regex) if backend_regex else None
    request_headers = {"User-Agent": "edgeops.nginx_lb.lb_verify"}
    request_headers.update(headers or {})
    result = PollResult()
    lock = threading.Lock()
    issued = [0]
    stop = threading.Event()
    in_use = set()          # connections a worker is using now
    deadline = time.monotonic() + deadline_s
    if scheme == "https":
        context = tls_context(ca_file, validate_certs)

        def connection_class(*args, **kwargs):
            return http.client.HTTPSConnection(*args, context=context, **kwargs)
    else:
        connection_class = http.client.HTTPConnection
    source = (source_address, 0) if source_address else None

    def time_left():
        return deadline - time.monotonic()

    def take_ticket():
        with lock:
            if stop.is_set() or issued[0] >= requests:
                return False
            if time_left() <= 0:
                result.deadline_hit = True
                return False
            issued[0] += 1
            return True

    def record(label, error, latency_ms):
        with lock:
            cut = error and error.startswith(("timeout", "connection")) and time_left() <= 0
            if stop.is_set() or cut:
                # Cut off at the deadline (or finished after poll() returned).
                result.abandoned += 1
                return
            result.requests += 1
            if error:
                result.errors[error] = result.errors.get(error, 0) + 1
            else:
                result.counts[label] = result.counts.get(label, 0) + 1
                result.latencies_ms.append(latency_ms)

    def socket_timeout():
        """The per-request timeout, never beyond the deadline."""
        return max(0.001, min(timeout, time_left()))

    def fetch(connection):
        """(label, error, will_close) of one GET on `connection`; raises what the socket raises."""
        if connection.sock is not None:
            connection.sock.settimeout(socket_timeout())
        else:
            connection.timeout = socket_timeout()
        connection.request("GET", target, headers=request_headers)
        response = connection.getresponse()
        body = response.read(BODY_LIMIT + 1)
        will_close = response.will_close
        if len(body) > BODY_LIMIT:
            # Longer than we read: do not read the rest, drop the connection.
            body = body[:BODY_LIMIT]
            will_close = True
            with lock:
                result.truncated += 1
        elif not response.isclosed() and not will_close:
            # read(n) stopped exactly at the end without noticing it.
            if response.read(1):
                will_close = True
                with lock:
                    result.truncated += 1
        if not 200 <= response.status < 300:
            return None, "status %d" % response.status, will_close
        if pattern is not None:
            match = pattern.search(body.decode("utf-8", "replace"))
            label = match.group(1) if match else None
        else:
            label = response.getheader(backend_header)
        return label, None if label else "unidentified backend", will_close

    def forget(connection):
        with lock:
            in_use.discard(connection)
        connection.close()

    def worker():
        connection, reused = None, False
        while take_ticket():
            started = time.perf_counter()
            label, error = None, None
            for attempt in (1, 2):
                if connection is None:
                    connection = connection_class(host, port, timeout=socket_timeout(), source_address=source)
                    reused = False
                    with lock:
                        in_use.add(connection)
                try:
                    label, error, will_close = fetch(connection)
                    reused = True
                    if will_close:
                        forget(connection)
                        connection = None
                    break
                except socket.timeout:
                    error = "timeout"
                except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                    error = "connection: %s" % (exc.__class__.__name__,)
                    if reused and attempt == 1 and not stop.is_set():
                        forget(connection)
                        connection = None
                        with lock:
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
        if connection is not None:
            forget(connection)

    def cut_off():
        """At the deadline: no new request, and every socket in use shut
        down so blocked reads return now."""
        with lock:
            stop.set()
            connections = list(in_use)
        for connection in connections:
            sock = connection.sock
            if sock is None:
                continue
            try:
                # socket.socket's own shutdown, also for an SSL socket (whose
                # override would tear down its state under the reader).
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
            except (OSError, ValueError, TypeError):
                pass

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, daemon=True) for dummy in range(max(1, concurrency))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, time_left()))
    if any(thread.is_alive() for thread in threads):
        result.deadline_hit = True
        cut_off()
        grace_end = time.monotonic() + GRACE_S
        for thread in threads:
            thread.join(max(0.0, grace_end - time.monotonic()))
    with lock:
        stop.set()      # a worker still stuck (in a DNS lookup, say) no longer writes
        snapshot = PollResult(requests=result.requests, counts=dict(result.counts), errors=dict(result.errors),
                              latencies_ms=list(result.latencies_ms), deadline_hit=result.deadline_hit,
                              retried=result.retried, abandoned=result.abandoned, truncated=result.truncated)
    snapshot.elapsed_s = time.perf_counter() - started
    return snapshot
