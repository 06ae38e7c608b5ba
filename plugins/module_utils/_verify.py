# -*- coding: utf-8 -*-
# Copyright: edgeops engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a location must show, given its upstream, and the verdict on what it
showed. Facts from nginx's source: see _balance and the collection's notes."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Optional

from ansible_collections.edgeops.nginx_lb.plugins.module_utils import _http_poll
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._balance import chi_square, expected_counts, ip_hash_index
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model import Server, Upstream

# What lb_verify can expect; `auto` derives it from the upstream's method.
EXPECTATIONS = ("auto", "round_robin", "least_conn", "ip_hash", "sticky", "random", "any")
CHI_SQUARE_MIN_P = 0.001


def match_backend(label, servers, resolve=None):
    """The server address a backend label (X-Backend `host:port`, or a bare
    port from a body regex) stands for, or None."""
    resolve = resolve or _resolve
    label = str(label).strip()
    addresses = [server.address for server in servers]
    if label in addresses:
        return label
    host, dummy, port = label.rpartition(":")
    if not port.isdigit():
        return None
    same_port = [server for server in servers if server.port == int(port)]
    if host:
        resolved = resolve(host)
        for server in same_port:
            if server.host.strip("[]") in resolved or server.host == host:
                return server.address
    if len(same_port) == 1:
        return same_port[0].address
    return None


def _resolve(host):
    try:
        return {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError:
        return set()


@dataclass
class Verdict:
    path: str
    upstream: str
    expectation: str
    counts: dict = field(default_factory=dict)      # server address (or raw label) -> responses
    expected: Optional[dict] = None                 # server address -> responses
    clients: Optional[dict] = None                  # source address -> {server address: responses}
    problems: list = field(default_factory=list)

    @property
    def passed(self):
        return not self.problems


def _short(address):
    return address.rsplit(":", 1)[1] if address.startswith("127.") else address


def _render(counts, order):
    return " ".join("%s:%d" % (_short(a), counts.get(a, 0)) for a in order)


def resolve_expectation(requested, upstream, concurrency):
    if requested not in (None, "", "auto"):
        return requested
    method = upstream.method
    if method == "hash":
        return "sticky"
    if method == "random":
        return "any" if upstream.two else "random"
    if method == "least_conn" and concurrency > 1:
        return "least_conn"
    if method == "least_conn":
        # One client never has two requests in flight: ties all the way,
        # broken by smooth weighted round robin.
        return "round_robin"
    return method


def judge(path, upstream, per_client, expectation, concurrency=1, tolerance=1, slow_backend=None,
          resolve=None):
    """Verdict for one location.

    `per_client` maps a client (source address or 'default') to its
    {label: responses}; labels are matched to the upstream's servers.
    """
    servers = upstream.servers
    usable = [s for s in servers if s.usable]
    expectation = resolve_expectation(expectation, upstream, concurrency)
    verdict = Verdict(path=path, upstream=upstream.name, expectation=expectation)

    mapped_clients = {}
    for client, labels in per_client.items():
        mapped = {}
        for label, number in labels.items():
            address = match_backend(label, servers, resolve) or str(label)
            mapped[address] = mapped.get(address, 0) + number
        mapped_clients[client] = mapped
        for address, number in mapped.items():
            verdict.counts[address] = verdict.counts.get(address, 0) + number
    total = sum(verdict.counts.values())
    order = [s.address for s in servers] + sorted(set(verdict.counts) - {s.address for s in servers})

    strangers = sorted(set(verdict.counts) - {s.address for s in servers})
    if strangers:
        verdict.problems.append("%s: answers from backends not in upstream %s: %s"
                                % (path, upstream.name, ", ".join(strangers)))
    idle = [s.address for s in servers if not s.usable and verdict.counts.get(s.address)]
    if idle:
        verdict.problems.append("%s: backup/down servers answered while primaries are up: %s" % (path, ", ".join(idle)))
    if total == 0:
        verdict.problems.append("%s: no successful response" % path)
        return verdict

    weights = [s.weight for s in usable]
    if expectation == "round_robin":
        verdict.expected = dict(zip([s.address for s in usable], expected_counts(weights, total)))
        off = [a for a, n in verdict.expected.items() if abs(verdict.counts.get(a, 0) - n) > tolerance]
        if off:
            verdict.problems.append("%s: expected %s, got %s" % (path, _render(verdict.expected, order),
                                                                 _render(verdict.counts, order)))
    elif expectation == "random":
        expected = [total * w / float(sum(weights)) for w in weights]
        observed = [verdict.counts.get(s.address, 0) for s in usable]
        statistic, dof, p_value = chi_square(observed, expected)
        verdict.expected = {s.address: round(e, 1) for s, e in zip(usable, expected)}
        if p_value < CHI_SQUARE_MIN_P:
            verdict.problems.append("%s: random counts %s do not fit weights %s (chi-square %.1f, dof %d, p=%.2g)"
                                    % (path, _render(verdict.counts, order), weights, statistic, dof, p_value))
    elif expectation == "least_conn":
        missing = [s.address for s in usable if not verdict.counts.get(s.address)]
        if missing:
            verdict.problems.append("%s: least_conn never chose %s" % (path, ", ".join(missing)))
        if slow_backend:
            slow = match_backend(slow_backend, servers, resolve)
            fair = total * next((s.weight for s in usable if s.address == slow), 1) / float(sum(weights))
            got = verdict.counts.get(slow, 0)
            if slow is None or got >= 0.8 * fair:
                verdict.problems.append("%s: least_conn should send the slow backend %s clearly less than its "
                                        "round-robin share %.0f, got %d" % (path, slow_backend, fair, got))
    elif expectation in ("ip_hash", "sticky"):
        verdict.clients = mapped_clients
        for client, mapped in sorted(mapped_clients.items()):
            if len(mapped) > 1:
                verdict.problems.append("%s: client %s was not sticky: %s" % (path, client, _render(mapped, order)))
            elif expectation == "ip_hash" and client != "default" and mapped:
                hashed = [s for s in servers if not s.backup]
                want = hashed[ip_hash_index(client, [s.weight for s in hashed])]
                if want.usable and want.address not in mapped:
                    verdict.problems.append("%s: client %s should hash to %s, got %s"
                                            % (path, client, want.address, _render(mapped, order)))
    elif expectation != "any":
        verdict.problems.append("%s: unknown expectation %r" % (path, expectation))
    return verdict


# ------------------------------------------------------------ the whole run

def _client_addresses(host, clients):
    """127.0.N.1 for N in 1..clients: ip_hash hashes three octets, so only
    addresses that differ in the third one can land on different backends."""
    if clients <= 1 or not host.startswith("127."):
        return [None]
    return ["127.0.%d.1" % n for n in range(1, clients + 1)]


def verify(model, url, locations, requests, concurrency=1, timeout=5.0, deadline_s=120.0, clients=1,
           tolerance=1, max_errors=0, backend_header="X-Backend", backend_regex=None, poll=None, resolve=None):
    """Poll every location and judge it. Returns a list of location results."""
    poll = poll or _http_poll.poll
    host = _http_poll.split_url(url)[1]
    results = []
    for spec in locations:
        path = spec["path"]
        upstream = model.upstream(spec.get("upstream")) if spec.get("upstream") else None
        if upstream is None and not spec.get("servers"):
            found = [loc for loc in model.locations if loc.path == path]
            upstream = model.upstream(found[0].upstream) if found else None
        if spec.get("servers"):
            weights = spec.get("weights") or [1] * len(spec["servers"])
            upstream = Upstream(name=spec.get("upstream") or path, method=(upstream.method if upstream else "round_robin"),
                                servers=[Server(address=a, weight=w) for a, w in zip(spec["servers"], weights)])
        elif upstream is not None and spec.get("weights"):
            for server, weight in zip(upstream.servers, spec["weights"]):
                server.weight = weight
        if upstream is None:
            results.append({"path": path, "passed": False, "problems": [
                "%s: no upstream known for this location (give upstream or servers, or check config_path)" % path]})
            continue
        expectation = resolve_expectation(spec.get("expect"), upstream, concurrency)
        sources = _client_addresses(host, clients) if expectation in ("ip_hash", "sticky") else [None]
        per_source = max(1, requests // len(sources))
        per_client, errors, latencies, sent, elapsed = {}, {}, [], 0, 0.0
        for source in sources:
            polled = poll(url, path if path != "/" else "/", per_source, concurrency=concurrency, timeout=timeout,
                          deadline_s=deadline_s, source_address=source, backend_header=backend_header,
                          backend_regex=backend_regex)
            per_client[source or "default"] = polled.counts
            for kind, number in polled.errors.items():
                errors[kind] = errors.get(kind, 0) + number
            latencies.extend(polled.latencies_ms)
            sent += polled.requests
            elapsed += polled.elapsed_s
        verdict = judge(path, upstream, per_client, expectation, concurrency, tolerance, spec.get("slow_backend"),
                        resolve)
        failed = sum(errors.values())
        if failed > max_errors:
            verdict.problems.append("%s: %d of %d requests failed (%s)" % (
                path, failed, sent, ", ".join("%s: %d" % item for item in sorted(errors.items()))))
        if sent < per_source * len(sources):
            verdict.problems.append("%s: deadline reached after %d of %d requests" % (path, sent, per_source * len(sources)))
        ordered = sorted(latencies)

        def percentile(fraction):
            return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))], 3) if ordered else None

        results.append({
            "path": path, "upstream": upstream.name, "method": upstream.method, "expectation": verdict.expectation,
            "requests": sent, "counts": verdict.counts, "expected": verdict.expected, "clients": verdict.clients,
            "errors": errors, "failed": failed, "passed": verdict.passed, "problems": verdict.problems,
            "latency_ms": {"p50": percentile(0.50), "p99": percentile(0.99)},
            "requests_per_s": round(sent / elapsed, 1) if elapsed > 0 else None,
        })
    return results


def table(results):
    """One short line per location, for people."""
    lines = []
    for r in results:
        if "counts" not in r:
            lines.append("%-12s FAIL %s" % (r["path"], "; ".join(r["problems"])))
            continue
        counts = " ".join("%s:%d" % (_short(a), n) for a, n in r["counts"].items()) or "-"
        if r["expected"] is None:
            against = "(%s)" % ("%d clients sticky" % len(r["clients"]) if r["clients"] else "no weights")
        elif r["expected"] == r["counts"]:
            against = "(exact)"
        else:
            against = "(expected %s)" % " ".join("%s:%s" % (_short(a), n) for a, n in r["expected"].items())
        failed = " failed %d" % r["failed"] if r["failed"] else ""
        lines.append("%-12s %-11s %-4s %s %s%s p99 %sms %d/s" % (
            r["path"], r["expectation"], "ok" if r["passed"] else "FAIL", counts, against, failed,
            r["latency_ms"]["p99"], r["requests_per_s"] or 0))
    return lines
