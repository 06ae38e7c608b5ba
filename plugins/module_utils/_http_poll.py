# -*- coding: utf-8 -*-
# Copyright: edgeops engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A bounded HTTP poller that counts which backend answered.

Standard library only (it runs on the target). Every worker keeps one
keep-alive connection; the loop stops after `requests` requests or at the
deadline, whichever comes first. Failures are counted, never raised. Like browsers and most HTTP clients, a
GET that finds its reused keep-alive connection closed before any response
byte is sent once more on a new connection (RFC 9112, 9.3.1); `retried`
counts those.
"""

from __future__ import annotations

import http.client
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit


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


def split_url(url):
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError("url must be http:// or https://, got %r" % url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, parts.hostname, port, parts.path.rstrip("/")


def poll(url, path, requests, concurrency=1, timeout=5.0, deadline_s=120.0, source_address=None,
         backend_header="X-Backend", backend_regex=None, headers=None):
    """GET `url` + `path` `requests` times from `concurrency` workers."""
    scheme, host, port, base = split_url(url)
    target = base + path
    pattern = re.compile(backend_regex) if backend_regex else None
    request_headers = {"User-Agent": "edgeops.nginx_lb.lb_verify"}
    request_headers.update(headers or {})
    result = PollResult()
    lock = threading.Lock()
    issued = [0]
    deadline = time.monotonic() + deadline_s
    connection_class = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
    source = (source_address, 0) if source_address else None

    def take_ticket():
        with lock:
            if issued[0] >= requests:
                return False
            if time.monotonic() > deadline:
                result.deadline_hit = True
                return False
            issued[0] += 1
            return True

    def record(label, error, latency_ms):
        with lock:
            result.requests += 1
            if error:
                result.errors[error] = result.errors.get(error, 0) + 1
            else:
                result.counts[label] = result.counts.get(label, 0) + 1
                result.latencies_ms.append(latency_ms)

    def fetch(connection):
        """(label, error) of one GET on `connection`; raises what the socket raises."""
        connection.request("GET", target, headers=request_headers)
        response = connection.getresponse()
        body = response.read()
        if not 200 <= response.status < 300:
            return None, "status %d" % response.status, response.will_close
        if pattern is not None:
            match = pattern.search(body.decode("utf-8", "replace"))
            label = match.group(1) if match else None
        else:
            label = response.getheader(backend_header)
        return label, None if label else "unidentified backend", response.will_close

    def worker():
        connection, reused = None, False
        while take_ticket():
            started = time.perf_counter()
            label, error = None, None
            for attempt in (1, 2):
                if connection is None:
                    connection, reused = connection_class(host, port, timeout=timeout, source_address=source), False
                try:
                    label, error, will_close = fetch(connection)
                    reused = True
                    if will_close:
                        connection.close()
                        connection = None
                    break
                except socket.timeout:
                    error = "timeout"
                except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                    error = "connection: %s" % (exc.__class__.__name__,)
                    if reused and attempt == 1:
                        connection.close()
                        connection = None
                        with lock:
                            result.retried += 1
                        continue
                except (OSError, http.client.HTTPException) as exc:
                    error = "connection: %s" % (exc.__class__.__name__,)
                break
            if error and error.startswith(("timeout", "connection")) and connection is not None:
                connection.close()
                connection = None
            record(label, error, (time.perf_counter() - started) * 1000.0)
        if connection is not None:
            connection.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, daemon=True) for dummy in range(max(1, concurrency))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()) + timeout + 1)
    result.elapsed_s = time.perf_counter() - started
    return result
