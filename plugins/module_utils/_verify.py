# -*- coding: utf-8 -*-
# Copyright: edgeops engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a location must show, given its upstream, and the verdict on what it
showed. Facts from nginx's source: see _balance and the collection's notes."""

from __future__ import annotations

import ipaddress
import math
import re
import socket
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Optional

from ansible_collections.edgeops.nginx_lb.plugins.module_utils import _dns, _http_poll
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._balance import chi_square, expected_counts, ip_hash_index
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._constants import WEIGHT_RANGE
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model import ModelError, Server, Upstream
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._syntax import format_address, parse_address

# What lb_verify can expect; `auto` derives it from the upstream's method.
EXPECTATIONS = ("auto", "round_robin", "least_conn", "ip_hash", "sticky", "random", "any")
CHI_SQUARE_MIN_P = 0.001
# A sticky upstream (sticky cookie): this many clients that keep the cookie,
# one after the other, each sending this many requests.
STICKY_CLIENTS = 3
STICKY_REQUESTS = 30


def match_backend(label, servers, resolve=None):
    """The server address a backend label (X-Backend `host:port`, or a bare
    port from a body regex) stands for, or None.

    A bare port names the one server on that port; a `host:port` label names
    a server on that port whose host is the same (written either way), or
    whose name and the label's address resolve to each other - never a
    server on the same port of another host."""
    resolve = resolve or _resolve
    # $upstream_addr lists every server tried ("a:p, b:p", " : " between
    # internal redirects): the last one answered.
    label = re.split(r", | : ", str(label).strip())[-1]
    addresses = [server.address for server in servers]
    if label in addresses:
        return label
    if re.match(r"\A[0-9]{1,5}\Z", label):
        same_port = [server for server in servers if _port(server) == int(label)]
        return same_port[0].address if len(same_port) == 1 else None
    try:
        host, port = parse_address(label)
    except ValueError:
        return None
    same_port = [server for server in servers if _port(server) == port]
    for server in same_port:
        if _normalised(server.address) == format_address(host, port):
            return server.address
    for server in same_port:
        server_host = _normalised_host(server)
        if server_host is not None and _is_ip(host) != _is_ip(server_host):
            name, address = (server_host, host) if _is_ip(host) else (host, server_host)
            if _names_address(name, address.strip("[]"), resolve):
                return server.address
    return None


def _names_address(name, address, resolve):
    """Whether host `name` is at IP `address`: it resolves to it, or the
    address is loopback and the name is this host's own (the app server
    names itself by its host name, and a loopback backend runs here)."""
    if ipaddress.ip_address(address).is_loopback and name.rstrip(".") == socket.gethostname().lower():
        return True
    return address in resolve(name)


def _normalised(address):
    try:
        return format_address(*parse_address(address))
    except (ValueError, TypeError):
        return None


def _normalised_host(server):
    address = _normalised(server.address)
    return address.rpartition(":")[0] if address else None


def _is_ip(host):
    return host.startswith("[") or re.match(r"\A[0-9.]+\Z", host) is not None


def _port(server):
    """The server's port; None for an address without one (a config may say
    `server app.example;` or `server unix:/run/app.sock;`)."""
    try:
        return server.port
    except ValueError:
        return None


def _resolve(host):
    try:
        return {info[4][0] for info in socket.getaddrinfo(host.strip("[]"), None)}
    except (OSError, UnicodeError):
        return set()


class Resolver:
    """resolve(host) -> {addresses} within a deadline (time.monotonic()):
    each name looked up once, in a thread waited for only until the
    deadline; past it a name resolves to nothing (the label stays unmatched
    and is named as a stranger), so judging never outlasts the deadline."""

    def __init__(self, deadline, lookup=None, clock=time.monotonic):
        self.deadline, self.lookup, self.clock = deadline, lookup or _resolve, clock
        self.cache = {}

    def __call__(self, host):
        if host not in self.cache:
            answer = {}
            left = self.deadline - self.clock()
            if left > 0:
                thread = threading.Thread(target=lambda: answer.setdefault("ips", self.lookup(host)), daemon=True)
                thread.start()
                thread.join(left)
            self.cache[host] = set(answer.get("ips") or ())
        return self.cache[host]


def bounded_resolve(resolve, started, deadline_s, sources):
    """`resolve` when given (tests), else a Resolver whose deadline is the
    end of a location's or stream's polling time (deadline_s per client)."""
    return resolve or Resolver(started + deadline_s * len(sources))


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


def _namer(addresses):
    """How to show `addresses`: loopback servers by port, unless two share a
    port (the addresses of one re-resolved name): then by address."""
    ports = [address.rsplit(":", 1)[-1] for address in addresses]
    return _short if len(set(ports)) == len(ports) else str


def _render(counts, order):
    """'7001:2 7002:1' (or whole addresses, _namer)."""
    name = _namer(order)
    return " ".join("%s:%d" % (name(a), counts.get(a, 0)) for a in order)


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
    primaries_down = not usable
    if primaries_down:
        # nginx sends to the backup servers when no primary is usable.
        usable = [s for s in servers if s.backup and not s.down]
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
    serving = {s.address for s in usable}
    idle = [s.address for s in servers if s.address not in serving and verdict.counts.get(s.address)]
    if idle:
        what = "down servers answered" if primaries_down else "backup/down servers answered while primaries are up"
        verdict.problems.append("%s: %s: %s" % (path, what, ", ".join(idle)))
    if not usable:
        verdict.problems.append("%s: upstream %s has no usable server (every one is down)" % (path, upstream.name))
        return verdict
    if total == 0:
        verdict.problems.append("%s: no successful response" % path)
        return verdict

    weights = [s.weight for s in usable]
    if expectation == "random" and len(usable) < 2:
        # One server: nothing to fit; every answer must be its.
        expectation = verdict.expectation = "round_robin"
    if expectation == "round_robin":
        verdict.expected = dict(zip([s.address for s in usable], expected_counts(weights, total)))
        off = [a for a, n in verdict.expected.items() if abs(verdict.counts.get(a, 0) - n) > tolerance]
        if off:
            verdict.problems.append("%s: expected %s, got %s" % (path, _render(verdict.expected, order),
                                                                 _render(verdict.counts, order)))
    elif expectation == "random":
        expected = [_share(total, w, weights) for w in weights]
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
            fair = _share(total, next((s.weight for s in usable if s.address == slow), 1), weights)
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
                if not any(s.usable for s in hashed):
                    continue    # no primary to hash to: only stickiness is checked
                want = hashed[ip_hash_index(client, [s.weight for s in hashed])]
                if want.usable and want.address not in mapped:
                    verdict.problems.append("%s: client %s should hash to %s, got %s"
                                            % (path, client, want.address, _render(mapped, order)))
    # "any": every answer from a server of the upstream counts (random two).
    return verdict


def _share(total, weight, weights):
    """`total` * `weight` / sum(`weights`): a server's share; 0 with no weight at all."""
    whole = sum(weights)
    return total * weight / float(whole) if whole > 0 else 0.0


def dns_lookup(upstream, name):
    """The addresses of `name` as the upstream's own `resolver` gives them
    (the host's resolver when the upstream names none)."""
    resolver = upstream.resolver
    if resolver is not None and resolver.addresses:
        return _dns.resolve_with(resolver.addresses, name, ipv6=resolver.ipv6)
    return sorted(address for address in _resolve(name) if ":" not in address)


def expand_resolved(upstream, lookup=dns_lookup):
    """(upstream, problems): a copy of `upstream` where each `resolve` server
    is one server per address of its name, with the same parameters (nginx
    makes a peer of each), so the share of the resolved set is judged like
    any other servers'."""
    servers, problems = [], []
    for server in upstream.servers:
        if not server.resolve:
            servers.append(server)
            continue
        name, dummy, port = server.address.rpartition(":")
        try:
            addresses = lookup(upstream, name)
        except (_dns.DnsError, OSError, ValueError) as exc:
            problems.append("upstream %s: cannot resolve %s: %s" % (upstream.name, name, exc))
            continue
        if not addresses:
            problems.append("upstream %s: %s resolves to no address" % (upstream.name, name))
        servers.extend(replace(server, address="%s:%s" % (address, port), resolve=False) for address in addresses)
    return replace(upstream, servers=servers), problems


# ------------------------------------------------------------ parameters

# Sane ranges: (minimum, maximum), both included.
INT_LIMITS = {
    "requests": (1, 1000000),
    "concurrency": (1, 256),        # one thread and one connection each
    "clients": (1, 254),            # 127.0.N.1, N one octet
    "tolerance": (0, 1000000),
    "max_errors": (0, 1000000),
}
FLOAT_LIMITS = {
    "timeout": 3600.0,
    "deadline": 86400.0,
}
# \A...\Z: '$' would let a trailing newline through into the request line.
_PATH_RE = re.compile(r"\A/[\x21-\x7e]*\Z")
_HEADER_RE = re.compile(r"\A[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")
# lb_verify's `host`: a DNS name, optionally :port (1-65535).
_HOST_RE = re.compile(r"\A(?=[^:]{1,253}(?::|\Z))[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
                      r"(?::(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?\Z")


class ParameterError(ModelError):
    """Invalid parameters; `errors` lists every problem as 'field: message'."""


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _check_int(errors, where, value, minimum, maximum):
    if not _is_int(value):
        errors.append("%s: must be an integer, got %r" % (where, value))
    elif not minimum <= value <= maximum:
        errors.append("%s: must be %d-%d, got %d" % (where, minimum, maximum, value))


def compile_regex(backend_regex):
    """The compiled backend regex (None for none); raises ParameterError."""
    if backend_regex is None:
        return None
    if not isinstance(backend_regex, str) or not backend_regex:
        raise ParameterError(["backend_regex: must be a non-empty string, got %r" % (backend_regex,)])
    try:
        pattern = re.compile(backend_regex)
    except (re.error, OverflowError, RecursionError, ValueError) as exc:
        raise ParameterError(["backend_regex: %r does not compile: %s" % (backend_regex, exc)])
    if pattern.groups != 1:
        raise ParameterError(["backend_regex: needs exactly one group (the backend), %r has %d"
                              % (backend_regex, pattern.groups)])
    return pattern


def check_parameters(url, locations, requests=120, concurrency=1, timeout=5.0, deadline=120.0, clients=1,
                     tolerance=1, max_errors=0, backend_header="X-Backend", backend_regex=None, host=None,
                     address_header="X-Upstream-Addr"):
    """Every problem of the run's parameters that needs no model, each as
    'field: message' (locations[i].field for a location); [] when fine."""
    errors = []
    try:
        if not isinstance(url, str):
            raise ValueError("must be a string, got %s" % type(url).__name__)
        _http_poll.split_url(url)
    except ValueError as exc:
        errors.append("url: %s" % _http_poll.redact_url(exc))
    for name, value in (("requests", requests), ("concurrency", concurrency), ("clients", clients),
                        ("tolerance", tolerance), ("max_errors", max_errors)):
        _check_int(errors, name, value, *INT_LIMITS[name])
    for name, value in (("timeout", timeout), ("deadline", deadline)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            errors.append("%s: must be a number of seconds, got %r" % (name, value))
        elif not 0 < value <= FLOAT_LIMITS[name]:
            errors.append("%s: must be more than 0 and at most %g seconds, got %g" % (name, FLOAT_LIMITS[name], value))
    if host is not None and (not isinstance(host, str) or not _HOST_RE.match(host)):
        errors.append("host: must be a DNS name, optionally :port (1-65535), got %r" % (host,))
    for name, value in (("backend_header", backend_header), ("address_header", address_header)):
        if not isinstance(value, str) or not _HEADER_RE.match(value):
            errors.append("%s: must be an HTTP header name, got %r" % (name, value))
    try:
        compile_regex(backend_regex)
    except ParameterError as exc:
        errors.extend(exc.errors)
    if locations is None:
        return errors
    if not isinstance(locations, list):
        return errors + ["locations: must be a list, got %s" % type(locations).__name__]
    for index, spec in enumerate(locations):
        where = "locations[%d]" % index
        if not isinstance(spec, dict):
            errors.append("%s: must be a dict, got %r" % (where, spec))
            continue
        path = spec.get("path")
        if not isinstance(path, str) or not _PATH_RE.match(path):
            errors.append("%s.path: must start with / and hold only printable ASCII without spaces, got %r"
                          % (where, path))
        if spec.get("expect") not in (None,) + EXPECTATIONS:
            errors.append("%s.expect: must be one of %s, got %r" % (where, ", ".join(EXPECTATIONS), spec["expect"]))
        for key in ("upstream", "slow_backend"):
            if spec.get(key) is not None and not isinstance(spec[key], (str, int)):
                errors.append("%s.%s: must be a string, got %r" % (where, key, spec[key]))
        check_servers_and_weights(errors, where, spec)
    return errors


def check_servers_and_weights(errors, where, spec):
    """A location's or a stream's own `servers` and `weights`, each problem
    appended to `errors` as 'WHERE.field: message'."""
    servers = spec.get("servers")
    if servers is not None:
        if not isinstance(servers, list):
            errors.append("%s.servers: must be a list of host:port, got %r" % (where, servers))
        else:
            for number, address in enumerate(servers):
                try:
                    Server(address=address).port     # raises ValueError on anything but host:port
                except (ValueError, TypeError) as exc:
                    errors.append("%s.servers[%d]: %s" % (where, number, exc))
    weights = spec.get("weights")
    if weights is not None:
        if not isinstance(weights, list):
            errors.append("%s.weights: must be a list of integers, got %r" % (where, weights))
        else:
            for number, weight in enumerate(weights):
                _check_int(errors, "%s.weights[%d]" % (where, number), weight, *WEIGHT_RANGE)
            if isinstance(servers, list) and servers and len(weights) != len(servers):
                errors.append("%s.weights: %d weights for %d servers" % (where, len(weights), len(servers)))


def locations_from_model(model):
    """(location specs, skipped descriptions) for every proxied location of
    a model read from a config; regex locations have no path to poll."""
    specs, skipped = [], []
    for loc in model.locations:
        if isinstance(loc.path, str) and _PATH_RE.match(loc.path) and loc.modifier not in ("~", "~*"):
            specs.append({"path": loc.path, "upstream": loc.upstream})
        else:
            skipped.append("location %s%s (upstream %s)" % (loc.modifier + " " if loc.modifier else "", loc.path,
                                                            loc.upstream))
    return specs, skipped


def resolve_upstream(model, spec, where="locations[0]"):
    """(upstream, error) of one location spec: the model's upstream, or one
    built from `servers`, with `weights` applied to a copy (the model is
    never changed). error is a 'field: message' when weights do not fit."""
    path = spec["path"]
    upstream = model.upstream(spec.get("upstream")) if spec.get("upstream") else None
    if upstream is None and not spec.get("servers"):
        found = [loc for loc in model.locations if loc.path == path]
        upstream = model.upstream(found[0].upstream) if found else None
    weights = spec.get("weights")
    if spec.get("servers"):
        weights = weights or [1] * len(spec["servers"])
        return Upstream(name=spec.get("upstream") or path, method=(upstream.method if upstream else "round_robin"),
                        servers=[Server(address=a, weight=w) for a, w in zip(spec["servers"], weights)]), None
    if upstream is None or not weights:
        return upstream, None
    if len(weights) != len(upstream.servers):
        return None, "%s.weights: %d weights for %d servers (upstream %s: %s)" % (
            where, len(weights), len(upstream.servers), upstream.name,
            ", ".join(s.address for s in upstream.servers))
    return replace(upstream, servers=[replace(s, weight=w) for s, w in zip(upstream.servers, weights)]), None


def judge_sessions(path, upstream, sessions, cookies_set, resolve=None):
    """Problems of a sticky upstream's clients that keep its cookie: each
    must have been given the cookie and have all its answers from one
    backend. `sessions`: each client's {label: responses}. Returns
    (each client's {server address: responses}, problems)."""
    cookie = upstream.sticky.cookie
    mapped_sessions, problems = [], []
    for labels in sessions:
        mapped = {}
        for label, number in labels.items():
            address = match_backend(label, upstream.servers, resolve) or str(label)
            mapped[address] = mapped.get(address, 0) + number
        mapped_sessions.append(mapped)
    if cookies_set < len(sessions):
        problems.append("%s: %d of %d clients got no cookie %s (Set-Cookie): is upstream %s sticky?"
                        % (path, len(sessions) - cookies_set, len(sessions), cookie, upstream.name))
    for index, mapped in enumerate(mapped_sessions):
        if len(mapped) > 1:
            problems.append("%s: client %d kept cookie %s and reached %d backends (%s); sticky sends all its "
                            "requests to one" % (path, index + 1, cookie, len(mapped), _render(mapped, sorted(mapped))))
    if not sessions:
        problems.append("%s: no client that keeps cookie %s was answered" % (path, cookie))
    return mapped_sessions, problems


# ------------------------------------------------------------ results

@dataclass
class LocationResult:
    """What lb_verify found on one location: the one representation the
    table, the HTML report and the module result (to_dict) are made from."""
    path: str
    upstream: Optional[str] = None
    method: Optional[str] = None
    expectation: Optional[str] = None
    polled: bool = False                              # False: no upstream known, nothing sent
    requests: int = 0                                 # answered or failed (not cut off at the deadline)
    counts: dict = field(default_factory=dict)        # server address (or raw label) -> responses
    expected: Optional[dict] = None                   # server address -> responses
    clients: Optional[dict] = None                    # source address -> {server address: responses}
    errors: dict = field(default_factory=dict)        # kind -> occurrences
    problems: list = field(default_factory=list)
    latency_ms: dict = field(default_factory=lambda: {"p50": None, "p99": None})
    requests_per_s: Optional[float] = None
    abandoned: int = 0                                # in flight at the deadline, cut off
    truncated: int = 0                                # bodies longer than the limit read
    protocol: Optional[str] = None                    # tcp or udp: a stream (_stream_poll); None: HTTP
    sessions: Optional[list] = None                   # sticky: each cookie-keeping client's {server: responses}

    @property
    def failed(self):
        return sum(self.errors.values())

    @property
    def passed(self):
        return not self.problems

    def to_dict(self):
        """Plain data for the module result."""
        data = asdict(self)
        data.update(failed=self.failed, passed=self.passed)
        return data


# ------------------------------------------------------------ the whole run

def _client_addresses(host, clients):
    """127.0.N.1 for N in 1..clients: ip_hash hashes three octets, so only
    addresses that differ in the third one can land on different backends."""
    if clients <= 1 or not host.startswith("127."):
        return [None]
    return ["127.0.%d.1" % n for n in range(1, clients + 1)]


def verify(model, url, locations, requests, concurrency=1, timeout=5.0, deadline_s=120.0, clients=1,
           tolerance=1, max_errors=0, backend_header="X-Backend", backend_regex=None, poll=None, resolve=None,
           address_header="X-Upstream-Addr", lookup=dns_lookup):
    """Poll every location and judge it: a LocationResult per location.

    A location whose upstream re-resolves a name (`resolve`) is counted by
    the answering address (`address_header`, nginx's $upstream_addr) and
    judged over the addresses the upstream's resolver gives (`lookup`).

    Raises ParameterError (naming each field) before sending anything when
    a parameter is out of range or a location's weights do not fit."""
    errors = check_parameters(url, locations, requests, concurrency, timeout, deadline_s, clients, tolerance,
                              max_errors, backend_header, backend_regex, address_header=address_header)
    if errors:
        raise ParameterError(errors)
    resolved = []
    for index, spec in enumerate(locations):
        upstream, error = resolve_upstream(model, spec, "locations[%d]" % index)
        if error:
            errors.append(error)
        resolved.append((spec, upstream))
    if errors:
        raise ParameterError(errors)

    poll = poll or _http_poll.poll
    host = _http_poll.split_url(url)[1]
    results = []
    for spec, upstream in resolved:
        resolve_problems = []
        header, regex = backend_header, backend_regex
        if upstream is not None and upstream.resolves:
            upstream, resolve_problems = expand_resolved(upstream, lookup)
            header, regex = address_header, None
        result = _verify_one(spec, upstream, poll, url, host, requests, concurrency, timeout, deadline_s, clients,
                             tolerance, max_errors, header, regex, resolve)
        result.problems[:0] = ["%s: %s" % (spec["path"], problem) for problem in resolve_problems]
        if upstream is not None and header == address_header and result.errors.get("unidentified backend"):
            result.problems.append("%s: upstream %s re-resolves names: its backends are counted by the %s header "
                                   "($upstream_addr), which the answers lack (load_balancer_expose_upstream_addr)"
                                   % (spec["path"], upstream.name, address_header))
        results.append(result)
    return results


def _verify_one(spec, upstream, poll, url, host, requests, concurrency, timeout, deadline_s, clients, tolerance,
                max_errors, backend_header, backend_regex, resolve):
    path = spec["path"]
    if upstream is None:
        return LocationResult(path=path, problems=[
            "%s: no upstream known for this location (give upstream or servers, or check config_path)" % path])
    expectation = resolve_expectation(spec.get("expect"), upstream, concurrency)
    sources = _client_addresses(host, clients) if expectation in ("ip_hash", "sticky") else [None]
    per_source = max(1, requests // len(sources))
    resolve = bounded_resolve(resolve, time.monotonic(), deadline_s, sources)
    per_client, errors, latencies, sent, elapsed, polls = poll_sources(sources, lambda source: poll(
        url, path, per_source, concurrency=concurrency, timeout=timeout, deadline_s=deadline_s, source_address=source,
        backend_header=backend_header, backend_regex=backend_regex))
    abandoned = sum(getattr(polled, "abandoned", 0) for polled in polls)
    truncated = sum(getattr(polled, "truncated", 0) for polled in polls)
    verdict = judge(path, upstream, per_client, expectation, concurrency, tolerance, spec.get("slow_backend"),
                    resolve)
    sessions = None
    if upstream.sticky is not None:
        # New clients (no cookie) were judged above by the method and weights;
        # now clients that keep the cookie, each on one backend.
        dummy, sticky_errors, sticky_latencies, sticky_sent, sticky_elapsed, sticky_polls = poll_sources(
            range(STICKY_CLIENTS), lambda source: poll(
                url, path, STICKY_REQUESTS, concurrency=1, timeout=timeout, deadline_s=deadline_s,
                backend_header=backend_header, backend_regex=backend_regex, keep_cookie=upstream.sticky.cookie))
        sessions, problems = judge_sessions(path, upstream, [one for polled in sticky_polls for one in polled.sessions],
                                            sum(polled.cookies_set for polled in sticky_polls), resolve)
        verdict.problems.extend(problems)
        for kind, number in sticky_errors.items():
            errors[kind] = errors.get(kind, 0) + number
        latencies += sticky_latencies
        sent += sticky_sent
        elapsed += sticky_elapsed
    failed = sum(errors.values())
    if failed > max_errors:
        verdict.problems.append("%s: %d of %d requests failed (%s)" % (
            path, failed, sent, ", ".join("%s: %d" % item for item in sorted(errors.items()))))
    wanted = per_source * len(sources) + (STICKY_CLIENTS * STICKY_REQUESTS if sessions is not None else 0)
    if sent < wanted:
        verdict.problems.append("%s: deadline reached after %d of %d requests%s" % (
            path, sent, wanted, " (%d cut off in flight)" % abandoned if abandoned else ""))
    return polled_result(path, upstream, verdict, errors, latencies, sent, elapsed, abandoned=abandoned,
                         truncated=truncated, sessions=sessions)


def poll_sources(sources, poll_one):
    """poll_one(source) for each client source address (None: the default
    one), one after the other: (per_client counts, errors by kind, latencies,
    sent, elapsed seconds, the polls)."""
    per_client, errors, latencies, sent, elapsed, polls = {}, {}, [], 0, 0.0, []
    for source in sources:
        polled = poll_one(source)
        polls.append(polled)
        per_client[source or "default"] = polled.counts
        for kind, number in polled.errors.items():
            errors[kind] = errors.get(kind, 0) + number
        latencies.extend(polled.latencies_ms)
        sent += polled.requests
        elapsed += polled.elapsed_s
    return per_client, errors, latencies, sent, elapsed, polls


def polled_result(path, upstream, verdict, errors, latencies, sent, elapsed, **extra):
    """The LocationResult of a polled location or stream (_stream_poll): the
    verdict, latency percentiles and rate of what was sent."""
    ordered = sorted(latencies)

    def percentile(fraction):
        return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))], 3) if ordered else None

    return LocationResult(
        path=path, upstream=upstream.name, method=upstream.method, expectation=verdict.expectation, polled=True,
        requests=sent, counts=verdict.counts, expected=verdict.expected, clients=verdict.clients, errors=errors,
        problems=verdict.problems, latency_ms={"p50": percentile(0.50), "p99": percentile(0.99)},
        requests_per_s=round(sent / elapsed, 1) if elapsed > 0 else None, **extra)


def table(results):
    """One short line per location (LocationResult), for people."""
    lines = []
    for r in results:
        if not r.polled:
            lines.append("%-12s FAIL %s" % (r.path, "; ".join(r.problems)))
            continue
        name = _namer(list(dict.fromkeys(list(r.counts) + list(r.expected or {}))))
        counts = " ".join("%s:%d" % (name(a), n) for a, n in r.counts.items()) or "-"
        if r.expected is None:
            against = "(%s)" % ("%d clients sticky" % len(r.clients) if r.clients else "no weights")
        elif r.expected == r.counts:
            against = "(exact)"
        else:
            against = "(expected %s)" % " ".join("%s:%s" % (name(a), n) for a, n in r.expected.items())
        failed = " failed %d" % r.failed if r.failed else ""
        if r.sessions is not None:
            against += " cookie: %d clients on %s" % (len(r.sessions), " ".join(
                "+".join(_short(a) for a in one) for one in r.sessions))
        lines.append("%-12s %-11s %-4s %s %s%s p99 %sms %d/s" % (
            r.path, r.expectation, "ok" if r.passed else "FAIL", counts, against, failed,
            r.latency_ms["p99"], r.requests_per_s or 0))
    return lines


def module_outcome(results, stream_results=()):
    """The module result for a run's LocationResults and those of its
    streams (_stream_poll), changed False: only GETs, connections, datagrams."""
    everything = list(results) + list(stream_results)
    return dict(changed=False, passed=all(r.passed for r in everything), locations=[r.to_dict() for r in results],
                streams=[r.to_dict() for r in stream_results], table=table(everything))
