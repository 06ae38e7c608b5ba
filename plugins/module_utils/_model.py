# -*- coding: utf-8 -*-
# Copyright: edgeops engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one model of "upstreams and locations".

Built from role variables (``model_from_vars``, which validates and names the
offending field) or read back from a parsed nginx config
(``model_from_config``).  The template, ``nginx_validate``, ``lb_verify`` and
the tests all speak this model, so there is one meaning of "upstream".
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Optional

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._nginx_conf import walk

METHODS = ("round_robin", "least_conn", "ip_hash", "hash", "random")
# nginx refuses `backup` with these (when the method line comes first).
METHODS_WITHOUT_BACKUP = ("ip_hash", "hash", "random")

UPSTREAM_KEYS = ("name", "method", "hash_key", "consistent", "two", "keepalive", "zone", "servers")
SERVER_KEYS = ("address", "weight", "max_fails", "fail_timeout", "max_conns", "backup", "down")
LOCATION_KEYS = ("path", "upstream")

_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
# Location paths are rendered into `location` and `rewrite`: keep them to
# characters that need no quoting and no regex escaping except '.'.
_PATH_RE = re.compile(r"^/[A-Za-z0-9._~/-]*$")
_HOST_RE = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?)$")
_TIME_RE = re.compile(r"^\d+(ms|s|m|h|d)?$")
_SIZE_RE = re.compile(r"^\d+[kKmM]?$")

_TRUE = ("true", "yes", "on", "1", "y", "t")
_FALSE = ("false", "no", "off", "0", "n", "f")


class ModelError(ValueError):
    """Invalid input; ``errors`` lists every problem as 'field: message'."""

    def __init__(self, errors):
        self.errors = list(errors)
        super().__init__("; ".join(self.errors))


@dataclass
class Server:
    address: str
    weight: int = 1
    max_fails: Optional[int] = None
    fail_timeout: Optional[str] = None
    max_conns: Optional[int] = None
    backup: bool = False
    down: bool = False

    @property
    def host(self) -> str:
        return split_address(self.address)[0]

    @property
    def port(self) -> int:
        return split_address(self.address)[1]

    @property
    def usable(self) -> bool:
        """Takes traffic while every primary is up."""
        return not (self.backup or self.down)

    def directive_args(self) -> list:
        """Arguments of the nginx `server` directive, in nginx's words."""
        args = [self.address]
        if self.weight != 1:
            args.append("weight=%d" % self.weight)
        if self.max_fails is not None:
            args.append("max_fails=%d" % self.max_fails)
        if self.fail_timeout is not None:
            args.append("fail_timeout=%s" % self.fail_timeout)
        if self.max_conns is not None:
            args.append("max_conns=%d" % self.max_conns)
        if self.backup:
            args.append("backup")
        if self.down:
            args.append("down")
        return args


@dataclass
class Upstream:
    name: str
    servers: list = field(default_factory=list)
    method: str = "round_robin"
    hash_key: Optional[str] = None
    consistent: bool = False
    two: bool = False
    keepalive: Optional[int] = None
    zone: Optional[str] = None
    file: Optional[str] = None
    line: Optional[int] = None

    @property
    def usable_servers(self) -> list:
        return [s for s in self.servers if s.usable]

    def method_args(self) -> Optional[list]:
        """The balancing directive (name first), None for round robin."""
        if self.method == "round_robin":
            return None
        if self.method == "hash":
            return ["hash", self.hash_key] + (["consistent"] if self.consistent else [])
        if self.method == "random":
            return ["random"] + (["two"] if self.two else [])
        return [self.method]


@dataclass
class Location:
    path: str
    upstream: str
    # True: `/path` and `/path/x` reach the backend as `/` and `/x`.
    strip_prefix: bool = True
    # As found in a parsed config (None when built from variables).
    modifier: Optional[str] = None
    proxy_uri: Optional[str] = None
    file: Optional[str] = None
    line: Optional[int] = None


@dataclass
class Model:
    upstreams: list = field(default_factory=list)
    locations: list = field(default_factory=list)

    def upstream(self, name) -> Optional[Upstream]:
        for upstream in self.upstreams:
            if upstream.name == name:
                return upstream
        return None


def split_address(address):
    """'host:port' or '[v6]:port' -> (host, port); raises ValueError."""
    if not isinstance(address, str) or ":" not in address:
        raise ValueError("must be 'host:port', got %r" % (address,))
    host, dummy, port = address.rpartition(":")
    if not _HOST_RE.match(host) or (":" in host and not host.startswith("[")):
        raise ValueError("must be 'host:port' with a valid host, got %r" % (address,))
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError("port must be 1-65535, got %r" % (address,))
    return host, int(port)


def listen_errors(value, where="load_balancer_listen"):
    """Problems of a server block's `listen` (a port, or address:port), each
    naming `where`; an empty list when it is fine."""
    text = str(value).strip()
    port_text = text.rpartition(":")[2] if ":" in text else text
    if not port_text.isdigit():
        return ["%s: must be a port or address:port, got %r" % (where, value)]
    if ":" in text:
        try:
            split_address(text)
        except ValueError as exc:
            return ["%s: %s" % (where, exc)]
    if not 1 <= int(port_text) <= 65535:
        return ["%s: port must be 1-65535, got %r" % (where, value)]
    return []


# ---------------------------------------------------------------- from vars

class _Errors(list):
    def add(self, where, message):
        self.append("%s: %s" % (where, message))


def _bool(value, where, errors):
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    errors.add(where, "must be a boolean, got %r" % (value,))
    return False


def _int(value, where, errors, minimum, maximum=None):
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        errors.add(where, "must be an integer, got %r" % (value,))
        return None
    if isinstance(value, str):
        if not value.strip().lstrip("-").isdigit():
            errors.add(where, "must be an integer, got %r" % (value,))
            return None
        value = int(value)
    if value < minimum or (maximum is not None and value > maximum):
        bound = ">= %d" % minimum if maximum is None else "%d-%d" % (minimum, maximum)
        errors.add(where, "must be %s, got %d" % (bound, value))
        return None
    return value


def _unknown_keys(item, allowed, where, errors):
    for key in sorted(set(item) - set(allowed), key=str):
        errors.add("%s.%s" % (where, key), "unknown key (allowed: %s)" % ", ".join(allowed))


def _server(raw, where, errors):
    if isinstance(raw, str):
        raw = {"address": raw}
    if not isinstance(raw, dict):
        errors.add(where, "must be a dict or a 'host:port' string, got %r" % (raw,))
        return None
    _unknown_keys(raw, SERVER_KEYS, where, errors)
    try:
        split_address(raw.get("address"))
    except ValueError as exc:
        errors.add(where + ".address", str(exc))
        return None
    server = Server(address=raw["address"])
    if raw.get("weight") is not None:
        server.weight = _int(raw["weight"], where + ".weight", errors, 1, 1000) or 1
    if raw.get("max_fails") is not None:
        server.max_fails = _int(raw["max_fails"], where + ".max_fails", errors, 0)
    if raw.get("max_conns") is not None:
        server.max_conns = _int(raw["max_conns"], where + ".max_conns", errors, 0)
    if raw.get("fail_timeout") is not None:
        value = str(raw["fail_timeout"])
        if _TIME_RE.match(value):
            server.fail_timeout = value
        else:
            errors.add(where + ".fail_timeout", "must be an nginx time like 10s, got %r" % (raw["fail_timeout"],))
    server.backup = _bool(raw.get("backup", False), where + ".backup", errors)
    server.down = _bool(raw.get("down", False), where + ".down", errors)
    return server


def _upstream(raw, where, errors, default_keepalive, default_zone):
    if not isinstance(raw, dict):
        errors.add(where, "must be a dict, got %r" % (raw,))
        return None
    _unknown_keys(raw, UPSTREAM_KEYS, where, errors)
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        errors.add(where + ".name", "must be a name of letters, digits, '_', '.', '-', got %r" % (name,))
        return None
    upstream = Upstream(name=name)
    method = raw.get("method") or "round_robin"
    if method not in METHODS:
        errors.add(where + ".method", "must be one of %s, got %r" % (", ".join(METHODS), method))
    upstream.method = method
    if method == "hash":
        key = raw.get("hash_key")
        if not isinstance(key, str) or not key.strip():
            errors.add(where + ".hash_key", "is required with method hash (e.g. $request_uri)")
        upstream.hash_key = key
    elif raw.get("hash_key") is not None:
        errors.add(where + ".hash_key", "is only valid with method hash")
    upstream.consistent = _bool(raw.get("consistent", False), where + ".consistent", errors)
    if upstream.consistent and method != "hash":
        errors.add(where + ".consistent", "is only valid with method hash")
    upstream.two = _bool(raw.get("two", False), where + ".two", errors)
    if upstream.two and method != "random":
        errors.add(where + ".two", "is only valid with method random")
    keepalive = raw.get("keepalive", default_keepalive)
    if keepalive not in (None, False, 0, "0"):
        upstream.keepalive = _int(keepalive, where + ".keepalive", errors, 1, 10000)
    zone = raw.get("zone", default_zone)
    if zone not in (None, False, "", "false", "no", "off"):
        if zone is True:
            zone = default_zone or "64k"
        if _SIZE_RE.match(str(zone)):
            upstream.zone = str(zone)
        else:
            errors.add(where + ".zone", "must be a size like 64k or false, got %r" % (zone,))

    servers = raw.get("servers")
    if not isinstance(servers, list) or not servers:
        errors.add(where + ".servers", "must be a non-empty list of servers")
        return upstream
    seen = set()
    for index, raw_server in enumerate(servers):
        server = _server(raw_server, "%s.servers[%d]" % (where, index), errors)
        if server is None:
            continue
        if server.address in seen:
            errors.add("%s.servers[%d].address" % (where, index), "duplicate server %s" % server.address)
        seen.add(server.address)
        if server.backup and method in METHODS_WITHOUT_BACKUP:
            errors.add("%s.servers[%d].backup" % (where, index), "nginx does not allow backup with method %s" % method)
        upstream.servers.append(server)
    if upstream.servers and not upstream.usable_servers:
        errors.add(where + ".servers", "has no usable server (all are backup or down)")
    return upstream


def _location(raw, where, errors):
    if not isinstance(raw, dict):
        errors.add(where, "must be a dict with path and upstream, got %r" % (raw,))
        return None
    _unknown_keys(raw, LOCATION_KEYS, where, errors)
    path = raw.get("path")
    if not isinstance(path, str) or not path.startswith("/"):
        errors.add(where + ".path", "must start with '/', got %r" % (path,))
        return None
    if not _PATH_RE.match(path) or "//" in path:
        errors.add(where + ".path", "may only contain letters, digits and . _ ~ - / (no '//'), got %r" % (path,))
        return None
    upstream = raw.get("upstream")
    if not isinstance(upstream, str) or not upstream:
        errors.add(where + ".upstream", "must name an upstream")
        return None
    # '/roundrobin/' and '/roundrobin' mean the same location.
    path = path.rstrip("/") or "/"
    return Location(path=path, upstream=upstream, strip_prefix=path != "/")


def model_from_vars(upstreams, locations, upstreams_var="load_balancer_upstreams",
                    locations_var="load_balancer_locations", default_keepalive=None, default_zone=None):
    """Validate and normalise role input; raise ModelError naming each field."""
    errors = _Errors()
    model = Model()
    if not isinstance(upstreams, list):
        errors.add(upstreams_var, "must be a list, got %s" % type(upstreams).__name__)
        upstreams = []
    if not isinstance(locations, list):
        errors.add(locations_var, "must be a list, got %s" % type(locations).__name__)
        locations = []
    names = set()
    for index, raw in enumerate(upstreams):
        where = "%s[%d]" % (upstreams_var, index)
        upstream = _upstream(raw, where, errors, default_keepalive, default_zone)
        if upstream is None:
            continue
        if upstream.name in names:
            errors.add(where + ".name", "duplicate upstream name %r" % upstream.name)
        names.add(upstream.name)
        model.upstreams.append(upstream)
    paths = set()
    for index, raw in enumerate(locations):
        where = "%s[%d]" % (locations_var, index)
        location = _location(raw, where, errors)
        if location is None:
            continue
        if location.path in paths:
            errors.add(where + ".path", "duplicate location path %r" % location.path)
        paths.add(location.path)
        if location.upstream not in names:
            errors.add(where + ".upstream", "names undefined upstream %r (defined: %s)"
                       % (location.upstream, ", ".join(sorted(names)) or "none"))
        model.locations.append(location)
    if errors:
        raise ModelError(errors)
    return model


# ------------------------------------------------------------- dict form

def model_to_dict(model):
    """Plain data for templates and module results (no derived fields lost)."""
    data = asdict(model)
    for upstream_data, upstream in zip(data["upstreams"], model.upstreams):
        upstream_data["method_args"] = upstream.method_args()
        for server_data, server in zip(upstream_data["servers"], upstream.servers):
            server_data["host"] = server.host
            server_data["port"] = server.port
            server_data["directive_args"] = server.directive_args()
    return data


def model_from_dict(data):
    """Inverse of model_to_dict (derived fields are ignored)."""
    upstreams = []
    for raw in data.get("upstreams", []):
        raw = dict(raw)
        servers = [Server(**{k: v for k, v in s.items() if k in Server.__dataclass_fields__})
                   for s in raw.pop("servers", [])]
        upstreams.append(Upstream(servers=servers, **{k: v for k, v in raw.items() if k in Upstream.__dataclass_fields__}))
    locations = [Location(**{k: v for k, v in raw.items() if k in Location.__dataclass_fields__})
                 for raw in data.get("locations", [])]
    return Model(upstreams=upstreams, locations=locations)


# ------------------------------------------------------------ from config

def _server_from_directive(directive):
    server = Server(address=directive.args[0] if directive.args else "")
    for arg in directive.args[1:]:
        key, dummy, value = arg.partition("=")
        if key in ("weight", "max_fails", "max_conns") and value.isdigit():
            setattr(server, key, int(value))
        elif key == "fail_timeout":
            server.fail_timeout = value
        elif key in ("backup", "down"):
            setattr(server, key, True)
    return server


def _upstream_from_block(directive):
    upstream = Upstream(name=directive.args[0] if directive.args else "", file=directive.file, line=directive.line)
    for child in directive.block or []:
        if child.name == "server":
            upstream.servers.append(_server_from_directive(child))
        elif child.name in ("least_conn", "ip_hash"):
            upstream.method = child.name
        elif child.name == "hash":
            upstream.method = "hash"
            upstream.hash_key = child.args[0] if child.args else None
            upstream.consistent = "consistent" in child.args[1:]
        elif child.name == "random":
            upstream.method = "random"
            upstream.two = "two" in child.args
        elif child.name == "keepalive" and child.args and child.args[0].isdigit():
            upstream.keepalive = int(child.args[0])
        elif child.name == "zone":
            upstream.zone = child.args[1] if len(child.args) > 1 else "shared"
    return upstream


def _split_proxy_pass(target):
    """'http://name/uri' -> ('name', '/uri' or None)."""
    rest = re.sub(r"^[a-z]+://", "", target)
    name, slash, uri = rest.partition("/")
    return name, (slash + uri) if slash else None


def _raw_locations(server_block):
    for directive in server_block.block or []:
        if directive.name != "location" or not directive.args:
            continue
        modifier, path = ("", directive.args[0]) if len(directive.args) == 1 else directive.args[:2]
        proxy_pass = next((d for d in directive.block or [] if d.name == "proxy_pass" and d.args), None)
        if proxy_pass is None:
            continue
        upstream, uri = _split_proxy_pass(proxy_pass.args[0])
        rewrites = [d for d in directive.block or [] if d.name == "rewrite"]
        # Stripping either by a URI in proxy_pass (the tutorial's way) or by
        # a `rewrite ... break` (ours; gixy flags the former).
        strips = uri is not None or bool(rewrites)
        yield Location(path=path, upstream=upstream, strip_prefix=strips, modifier=modifier,
                       proxy_uri=uri, file=directive.file, line=directive.line)


def model_from_config(tree):
    """Read upstreams and proxied locations from a parsed config tree.

    Our own pair `location = /x` + `location /x/` becomes one Location `/x`,
    so a rendered model reads back equal to the model it was rendered from.
    """
    model = Model()
    for directive in walk(tree):
        if directive.name == "upstream" and directive.block is not None:
            model.upstreams.append(_upstream_from_block(directive))
        elif directive.name == "server" and directive.block is not None:
            raw = list(_raw_locations(directive))
            prefixes = {(loc.path, loc.upstream) for loc in raw if loc.modifier == ""}
            exacts = {(loc.path, loc.upstream) for loc in raw if loc.modifier == "="}
            for loc in raw:
                if loc.modifier == "=" and (loc.path + "/", loc.upstream) in prefixes:
                    continue  # folded into its prefix twin
                if loc.modifier == "" and len(loc.path) > 1 and loc.path.endswith("/") \
                        and (loc.path[:-1], loc.upstream) in exacts:
                    loc.path, loc.modifier = loc.path[:-1], None
                model.locations.append(loc)
    return model


# ------------------------------------------------------------------ lint

def _finding(severity, message, obj=None, subject=None):
    return {"severity": severity, "message": message, "subject": subject,
            "file": getattr(obj, "file", None), "line": getattr(obj, "line", None)}


def lint(model):
    """Load-balancer mistakes that `nginx -t` accepts; list of findings."""
    findings = []
    used = set()
    for location in model.locations:
        used.add(location.upstream)
        if model.upstream(location.upstream) is None:
            if "$" in location.upstream or "." in location.upstream or ":" in location.upstream:
                continue  # a host or variable target, not an upstream of ours
            findings.append(_finding("error", "location %s proxies to undefined upstream %r"
                                     % (location.path, location.upstream), location, location.path))
        if location.modifier == "" and location.proxy_uri is not None and location.proxy_uri.endswith("/") \
                and not location.path.endswith("/"):
            findings.append(_finding(
                "warning",
                "location %s strips its prefix with proxy_pass URI %r: %s/x reaches the backend as /%s/x "
                "(double slash) and %sX is proxied too; use `location = %s` plus `location %s/` "
                "with a rewrite" % (location.path, location.proxy_uri, location.path, location.proxy_uri.strip("/"),
                                    location.path, location.path, location.path), location, location.path))
    for upstream in model.upstreams:
        if not upstream.servers:
            findings.append(_finding("error", "upstream %s has no server" % upstream.name, upstream, upstream.name))
        elif not upstream.usable_servers:
            findings.append(_finding("error", "upstream %s has no usable server (all backup or down)"
                                     % upstream.name, upstream, upstream.name))
        seen = set()
        for server in upstream.servers:
            if server.address in seen:
                findings.append(_finding("warning", "upstream %s lists server %s twice"
                                         % (upstream.name, server.address), upstream, upstream.name))
            seen.add(server.address)
            if server.backup and upstream.method in METHODS_WITHOUT_BACKUP:
                findings.append(_finding("error", "upstream %s: backup server %s is not allowed with %s "
                                         "(nginx accepts it only when the method comes after the servers)"
                                         % (upstream.name, server.address, upstream.method), upstream, upstream.name))
        if upstream.zone is None and len(upstream.servers) > 1:
            findings.append(_finding("info", "upstream %s has no zone: each worker keeps its own balancing state, "
                                     "so counts are only approximately as weighted" % upstream.name,
                                     upstream, upstream.name))
        if upstream.name not in used:
            findings.append(_finding("info", "upstream %s is not used by any location" % upstream.name,
                                     upstream, upstream.name))
    return findings
