# -*- coding: utf-8 -*-
# Copyright: edgeops engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""lb_verify over TCP and UDP: nginx's stream module balances each TCP
connection and each UDP session, so a stream is measured one connection (or
one datagram, from its own socket: its own session) at a time, and the
backend is named by the one line it answers (``HOST:PORT``, the app server's
``--mode tcp|udp``). The verdict is _verify's ``judge``, the same as for an
HTTP location: exact smooth weighted round robin counts, stickiness per
client address for hash, a chi-square fit for random.

Standard library only: it runs on targets. Every loop is bounded in count
and by a deadline; every socket by a timeout.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field, replace

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model import STREAM_PROTOCOLS, Server, Upstream
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._syntax import parse_address
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._verify import (
    INT_LIMITS, LocationResult, ParameterError, _check_int, _client_addresses, bounded_resolve,
    check_servers_and_weights, judge, poll_sources, polled_result, resolve_expectation)

# What a stream can be judged by: no ip_hash in the stream module, and
# least_conn polled one connection at a time is round robin (as for HTTP).
STREAM_EXPECTATIONS = ("auto", "round_robin", "sticky", "random", "any")
MAX_ANSWER = 512           # bytes of an answer read at most
PROBE = b"edgeops lb_verify\n"


@dataclass
class StreamPoll:
    """What one client saw on one stream (the shape _verify reads of an HTTP poll)."""
    counts: dict = field(default_factory=dict)       # answer label -> connections or datagrams
    errors: dict = field(default_factory=dict)       # kind -> occurrences
    latencies_ms: list = field(default_factory=list)
    requests: int = 0
    elapsed_s: float = 0.0
    deadline_hit: bool = False


def _error_kind(exc):
    if isinstance(exc, socket.timeout):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, ConnectionResetError):
        return "reset"
    return "error: %s" % (exc.strerror or type(exc).__name__) if isinstance(exc, OSError) else type(exc).__name__


def _family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _tcp_answer(host, port, timeout, source_address):
    """One connection: the line the backend sends, read until newline or close."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        if source_address:
            sock.bind((source_address, 0))
        sock.connect((host, port))
        data = b""
        while b"\n" not in data and len(data) < MAX_ANSWER:
            chunk = sock.recv(MAX_ANSWER - len(data))
            if not chunk:
                break
            data += chunk
        return data


def _udp_answer(host, port, timeout, source_address):
    """One datagram from a socket of its own (a session of its own for nginx), one answer."""
    with socket.socket(_family(host), socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.bind((source_address or ("::" if ":" in host else "0.0.0.0"), 0))
        sock.connect((host, port))
        sock.send(PROBE)
        return sock.recv(MAX_ANSWER)


def poll(protocol, address, count, timeout=5.0, deadline_s=120.0, source_address=None):
    """`count` connections (tcp) or datagrams (udp) to `address`, one at a
    time, within `deadline_s`: StreamPoll with the backends counted by
    their answer."""
    host, port = parse_address(address)
    host = host.strip("[]")
    answer = _tcp_answer if protocol == "tcp" else _udp_answer
    result = StreamPoll()
    started = time.monotonic()
    deadline = started + deadline_s
    for dummy in range(count):
        now = time.monotonic()
        if now >= deadline:
            result.deadline_hit = True
            break
        result.requests += 1
        try:
            data = answer(host, port, min(timeout, max(0.001, deadline - now)), source_address)
        except (OSError, ValueError) as exc:
            kind = _error_kind(exc)
            result.errors[kind] = result.errors.get(kind, 0) + 1
            continue
        label = data.decode("ascii", "replace").strip()
        if not label:
            result.errors["empty answer"] = result.errors.get("empty answer", 0) + 1
            continue
        result.latencies_ms.append((time.monotonic() - now) * 1000.0)
        result.counts[label] = result.counts.get(label, 0) + 1
    result.elapsed_s = time.monotonic() - started
    return result


# ------------------------------------------------------------ parameters

def check_streams(streams):
    """Every problem of lb_verify's `streams` entries, as 'streams[i].field: message'."""
    if streams is None:
        return []
    if not isinstance(streams, list):
        return ["streams: must be a list, got %s" % type(streams).__name__]
    errors = []
    for index, spec in enumerate(streams):
        where = "streams[%d]" % index
        if not isinstance(spec, dict):
            errors.append("%s: must be a dict, got %r" % (where, spec))
            continue
        if not spec.get("name") and not spec.get("address"):
            errors.append("%s: give name (a stream of the live config) or address" % where)
        if spec.get("name") is not None and not isinstance(spec["name"], str):
            errors.append("%s.name: must be a string, got %r" % (where, spec["name"]))
        if spec.get("address") is not None:
            try:
                parse_address(spec["address"])
            except ValueError as exc:
                errors.append("%s.address: %s" % (where, exc))
        if spec.get("protocol") not in (None,) + STREAM_PROTOCOLS:
            errors.append("%s.protocol: must be one of %s, got %r"
                          % (where, ", ".join(STREAM_PROTOCOLS), spec["protocol"]))
        if spec.get("expect") not in (None,) + STREAM_EXPECTATIONS:
            errors.append("%s.expect: must be one of %s, got %r"
                          % (where, ", ".join(STREAM_EXPECTATIONS), spec["expect"]))
        if isinstance(spec.get("servers"), list) and not spec["servers"]:
            errors.append("%s.servers: must be a non-empty list of host:port, got []" % where)
        check_servers_and_weights(errors, where, spec)
    return errors


def streams_from_model(model):
    """A spec for every stream of a config that proxies to an upstream of it."""
    return [{"name": s.name, "address": s.verify_address(), "protocol": s.protocol}
            for s in model.streams if s.upstream is not None]


def resolve_stream(model, spec, where):
    """(address, protocol, upstream, error) of one spec: the model's stream
    (by name, else by address), or servers given; weights on a copy."""
    found = None
    for stream in model.streams:
        if (spec.get("name") and stream.name == spec["name"]) or \
                (not spec.get("name") and spec.get("address") and stream.verify_address() == spec["address"]):
            found = stream
            break
    address = spec.get("address") or (found.verify_address() if found else None)
    protocol = spec.get("protocol") or (found.protocol if found else "tcp")
    upstream = found.upstream if found else None
    weights = spec.get("weights")
    if spec.get("servers"):
        weights = weights or [1] * len(spec["servers"])
        if len(weights) != len(spec["servers"]):
            return address, protocol, None, "%s.weights: %d weights for %d servers" % (
                where, len(weights), len(spec["servers"]))
        upstream = Upstream(name=spec.get("name") or address or "stream",
                            method=upstream.method if upstream else "round_robin",
                            servers=[Server(address=a, weight=w) for a, w in zip(spec["servers"], weights)])
    elif upstream is not None and weights:
        if len(weights) != len(upstream.servers):
            return address, protocol, None, "%s.weights: %d weights for %d servers (stream %s: %s)" % (
                where, len(weights), len(upstream.servers), upstream.name,
                ", ".join(s.address for s in upstream.servers))
        upstream = replace(upstream, servers=[replace(s, weight=w) for s, w in zip(upstream.servers, weights)])
    if address is None:
        return None, protocol, None, "%s.name: no stream %r in the live config (give address)" % (
            where, spec.get("name"))
    return address, protocol, upstream, None


# ------------------------------------------------------------ the run

def verify_streams(model, streams, requests, timeout=5.0, deadline_s=120.0, clients=1, tolerance=1, max_errors=0,
                   poller=None, resolve=None):
    """Poll every stream and judge it: a LocationResult per stream, its path
    `tcp://ADDRESS` or `udp://ADDRESS`. Raises ParameterError (naming each
    field) before anything is sent."""
    errors = check_streams(streams)
    for name, value in (("requests", requests), ("clients", clients), ("tolerance", tolerance),
                        ("max_errors", max_errors)):
        _check_int(errors, name, value, *INT_LIMITS[name])
    resolved = []
    if not errors:
        for index, spec in enumerate(streams):
            address, protocol, upstream, error = resolve_stream(model, spec, "streams[%d]" % index)
            if error:
                errors.append(error)
            resolved.append((spec, address, protocol, upstream))
    if errors:
        raise ParameterError(errors)
    poller = poller or poll
    return [_verify_stream(spec, address, protocol, upstream, poller, requests, timeout, deadline_s, clients,
                           tolerance, max_errors, resolve)
            for spec, address, protocol, upstream in resolved]


def _verify_stream(spec, address, protocol, upstream, poller, requests, timeout, deadline_s, clients, tolerance,
                   max_errors, resolve):
    path = "%s://%s" % (protocol, address)
    if upstream is None:
        return LocationResult(path=path, protocol=protocol, problems=[
            "%s: no upstream known for this stream (give servers, or name a stream of the live config)" % path])
    expectation = resolve_expectation(spec.get("expect"), upstream, 1)
    sources = _client_addresses(parse_address(address)[0], clients) if expectation == "sticky" else [None]
    per_source = max(1, requests // len(sources))
    resolve = bounded_resolve(resolve, time.monotonic(), deadline_s, sources)
    per_client, errors, latencies, sent, elapsed, polls = poll_sources(sources, lambda source: poller(
        protocol, address, per_source, timeout=timeout, deadline_s=deadline_s, source_address=source))
    cut = any(polled.deadline_hit for polled in polls)
    verdict = judge(path, upstream, per_client, expectation, 1, tolerance, None, resolve)
    failed = sum(errors.values())
    unit = "connections" if protocol == "tcp" else "datagrams"
    if failed > max_errors:
        verdict.problems.append("%s: %d of %d %s failed (%s)" % (
            path, failed, sent, unit, ", ".join("%s: %d" % item for item in sorted(errors.items()))))
    if cut or sent < per_source * len(sources):
        verdict.problems.append("%s: deadline reached after %d of %d %s" % (path, sent, per_source * len(sources),
                                                                            unit))
    return polled_result(path, upstream, verdict, errors, latencies, sent, elapsed, protocol=protocol)
