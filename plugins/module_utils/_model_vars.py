# -*- coding: utf-8 -*-
# Copyright: edgeops engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Role variables -> the model.

This file only reads shapes and types (a dict here, an integer there) and
names the field when one is wrong; what the values may be is ``_check``'s
one set of rules, run on the built model before anything is returned.
"""

from __future__ import annotations

import copy

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._check import check
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._constants import STATE_FILE
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._convert import to_bool, to_int
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._features import has, parse_version
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._nginx_conf import ParseError, parse
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model import (
    Location, Model, ModelError, RateLimit, RealIp, Resolver, Server, Site, Sticky, Stream, Upstream, plain_dns_names)
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._syntax import (
    SITE_NAME_RE, format_address, parse_address)
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._tls import tls_from_var

UPSTREAM_KEYS = ("name", "method", "hash_key", "consistent", "two", "keepalive", "zone", "sticky", "servers")
STICKY_KEYS = ("cookie", "expires", "path", "httponly", "secure", "samesite")
SERVER_KEYS = ("address", "weight", "max_fails", "fail_timeout", "max_conns", "backup", "down", "resolve")
RESOLVER_VAR = "load_balancer_resolver"
RESOLVER_KEYS = ("addresses", "valid", "ipv6", "timeout")
LOCATION_KEYS = ("path", "upstream")
STREAM_KEYS = ("name", "listen", "protocol", "method", "hash_key", "consistent", "two", "zone", "proxy_timeout",
               "proxy_connect_timeout", "proxy_protocol", "servers")

# The role variables of the server block: variable name -> Site field.
SITE_VARS = {
    "load_balancer_listen": "listen",
    "load_balancer_server_name": "server_names",
    "load_balancer_server_tokens": "server_tokens",
    "load_balancer_access_log": "access_log",
    "load_balancer_access_log_buffer": "access_log_buffer",
    "load_balancer_proxy_set_headers": "proxy_set_headers",
    "load_balancer_proxy_connect_timeout": "proxy_connect_timeout",
    "load_balancer_proxy_read_timeout": "proxy_read_timeout",
    "load_balancer_proxy_next_upstream": "proxy_next_upstream",
    "load_balancer_expose_upstream_addr": "expose_upstream_addr",
    "load_balancer_extra_directives": "extra_directives",
    "load_balancer_tls": "tls",
}


class _Errors(list):
    def add(self, where, message):
        self.append("%s: %s" % (where, message))


def to_text(value, where, errors):
    """Strings, and numbers written without quotes in YAML (listen: 80)."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        errors.add(where, "must be a string, got %r" % (value,))
        return None
    return str(value)


def _unknown_keys(item, allowed, where, errors):
    for key in sorted(set(item) - set(allowed), key=str):
        errors.add("%s.%s" % (where, key), "unknown key (allowed: %s)" % ", ".join(allowed))


def _server(raw, where, errors):
    if not isinstance(raw, dict):
        errors.add(where, "must be a dict with an address, got %r" % (raw,))
        return None
    _unknown_keys(raw, SERVER_KEYS, where, errors)
    address = raw.get("address")
    try:
        address = format_address(*parse_address(address))
    except ValueError as exc:
        errors.add(where + ".address", str(exc))
        return None
    server = Server(address=address, where=where)
    for key in ("weight", "max_fails", "max_conns"):
        if raw.get(key) is not None:
            setattr(server, key, to_int(raw[key], "%s.%s" % (where, key), errors))
    if server.weight is None:
        server.weight = 1
    if raw.get("fail_timeout") is not None:
        server.fail_timeout = to_text(raw["fail_timeout"], where + ".fail_timeout", errors)
    server.backup = to_bool(raw.get("backup", False), where + ".backup", errors)
    server.down = to_bool(raw.get("down", False), where + ".down", errors)
    server.resolve = to_bool(raw.get("resolve", False), where + ".resolve", errors)
    return server


def _upstream(raw, where, errors, default_keepalive, default_zone):
    if not isinstance(raw, dict):
        errors.add(where, "must be a dict, got %r" % (raw,))
        return None
    _unknown_keys(raw, UPSTREAM_KEYS, where, errors)
    name = to_text(raw.get("name"), where + ".name", errors)
    if name is None:
        return None
    upstream = Upstream(name=name, where=where)
    upstream.method = to_text(raw.get("method") or "round_robin", where + ".method", errors) or "round_robin"
    if raw.get("hash_key") is not None:
        upstream.hash_key = to_text(raw["hash_key"], where + ".hash_key", errors)
    upstream.consistent = to_bool(raw.get("consistent", False), where + ".consistent", errors)
    upstream.two = to_bool(raw.get("two", False), where + ".two", errors)
    keepalive = raw.get("keepalive", default_keepalive)
    if keepalive not in (None, False, 0, "0"):
        upstream.keepalive = to_int(keepalive, where + ".keepalive", errors)
    zone = raw.get("zone", default_zone)
    if zone not in (None, False, "", "false", "no", "off"):
        upstream.zone = default_zone or "64k" if zone is True else to_text(zone, where + ".zone", errors)
    if raw.get("sticky") is not None:
        upstream.sticky = _sticky(raw["sticky"], where + ".sticky", errors)
    servers = raw.get("servers")
    if not isinstance(servers, list) or not servers:
        errors.add(where + ".servers", "must be a non-empty list of servers")
        return upstream
    for index, raw_server in enumerate(servers):
        server = _server(raw_server, "%s.servers[%d]" % (where, index), errors)
        if server is not None:
            upstream.servers.append(server)
    if upstream.resolves and upstream.zone is None and zone in (None, True):
        # nginx keeps re-resolved addresses in the zone: one is given unless turned off (the check names that).
        upstream.zone = default_zone or "64k"
    return upstream


def _sticky(raw, where, errors):
    """An upstream's `sticky` dict -> Sticky (the values are _check's)."""
    if not isinstance(raw, dict):
        errors.add(where, "must be a dict with a cookie name, got %r" % (raw,))
        return None
    _unknown_keys(raw, STICKY_KEYS, where, errors)
    cookie = to_text(raw.get("cookie"), where + ".cookie", errors)
    if cookie is None:
        return None
    sticky = Sticky(cookie=cookie, where=where)
    for key in ("expires", "path", "samesite"):
        if raw.get(key) is not None:
            setattr(sticky, key, to_text(raw[key], "%s.%s" % (where, key), errors))
    for key in ("httponly", "secure"):
        setattr(sticky, key, to_bool(raw.get(key, False), "%s.%s" % (where, key), errors))
    return sticky


def resolver_from_var(value, errors, var=RESOLVER_VAR):
    """load_balancer_resolver -> Resolver; None when unset (None, {} or no addresses)."""
    if value is None or value == {}:
        return None
    if not isinstance(value, dict):
        errors.add(var, "must be a dict with addresses, valid, ipv6, timeout, got %r" % (value,))
        return None
    _unknown_keys(value, RESOLVER_KEYS, var, errors)
    addresses = value.get("addresses")
    # The role's default: no addresses, empty valid and timeout.
    if addresses in (None, []) and all(value.get(key) in (None, "") for key in ("valid", "timeout")):
        return None
    resolver = Resolver(where=var)
    if isinstance(addresses, (str, int)) and not isinstance(addresses, bool):
        addresses = [addresses]
    if not isinstance(addresses, list):
        errors.add(var + ".addresses", "must be a list of IP addresses (optionally :port), got %r" % (addresses,))
    else:
        texts = [to_text(item, "%s.addresses[%d]" % (var, index), errors) for index, item in enumerate(addresses)]
        resolver.addresses = [text for text in texts if text is not None]
    for key in ("valid", "timeout"):
        if value.get(key) not in (None, ""):
            setattr(resolver, key, to_text(value[key], "%s.%s" % (var, key), errors))
    # The role asks for A records only unless told (nginx's own default is ipv6=on).
    resolver.ipv6 = to_bool(value["ipv6"], var + ".ipv6", errors) if value.get("ipv6") is not None else False
    return resolver


def _location(raw, where, errors):
    if not isinstance(raw, dict):
        errors.add(where, "must be a dict with path and upstream, got %r" % (raw,))
        return None
    _unknown_keys(raw, LOCATION_KEYS, where, errors)
    path = to_text(raw.get("path"), where + ".path", errors)
    upstream = to_text(raw.get("upstream"), where + ".upstream", errors)
    if path is None or upstream is None:
        return None
    # '/roundrobin/' and '/roundrobin' mean the same location ('/a//' stays for the check to refuse).
    path = _one_location_path(path)
    return Location(path=path, upstream=upstream, strip_prefix=path != "/", where=where)


def _one_location_path(path):
    """'/roundrobin/' and '/roundrobin' mean the same location; '/a//' stays for the check to refuse."""
    if len(path) > 1 and path.endswith("/") and not path.endswith("//"):
        return path[:-1]
    return path


def _header_pairs(value, where, errors):
    """{header: value} -> [[name, value], ...] in order; [] (and an error) when not a dict."""
    if not isinstance(value, dict):
        errors.add(where, "must be a dict of header: value, got %r" % (value,))
        return []
    return [[str(name), to_text(text, "%s.%s" % (where, name), errors) or ""] for name, text in value.items()]


def _words(text):
    """Space-separated words; other whitespace (a newline) stays inside a word for the check to refuse."""
    return [word for word in text.split(" ") if word]


def _directive(text, where, errors):
    """'add_header X-A "b c" always' -> ['add_header', 'X-A', 'b c', 'always'], or [] (and an error)."""
    text = to_text(text, where, errors)
    if text is None:
        return []
    try:
        tree = parse(text.rstrip().rstrip(";") + ";", where)
    except ParseError:
        tree = None
    if not tree or len(tree) != 1 or tree[0].block is not None:
        errors.add(where, "must be one simple directive without ';' or braces, got %r" % (text,))
        return []
    return [tree[0].name] + tree[0].args


def _site(site_vars, errors):
    site = Site()
    for var, attr in SITE_VARS.items():
        site.where[attr] = var
        if var not in site_vars or site_vars[var] is None:
            continue
        value = site_vars[var]
        if attr in ("server_tokens", "expose_upstream_addr"):
            setattr(site, attr, to_bool(value, var, errors))
        elif attr == "server_names":
            text = to_text(value, var, errors)
            site.server_names = _words(text) if text is not None else site.server_names
        elif attr == "proxy_next_upstream":
            text = to_text(value, var, errors)
            site.proxy_next_upstream = _words(text) if text is not None else site.proxy_next_upstream
        elif attr == "proxy_set_headers":
            site.proxy_set_headers = _header_pairs(value, var, errors)
        elif attr == "extra_directives":
            if not isinstance(value, list):
                errors.add(var, "must be a list of strings, got %r" % (value,))
                continue
            directives = [_directive(item, "%s[%d]" % (var, index), errors) for index, item in enumerate(value)]
            site.extra_directives = [directive for directive in directives if directive]
        elif attr == "tls":
            site.tls = tls_from_var(value, var, errors)
        elif attr == "access_log_buffer":
            text = to_text(value, var, errors)
            site.access_log_buffer = text or None
        else:
            text = to_text(value, var, errors)
            if text is not None:
                setattr(site, attr, text)
    return site


def _stream(raw, where, errors, default_zone, access_log):
    """One entry of load_balancer_streams: its upstream part is read by the
    same _upstream as HTTP's (no keepalive in nginx's stream module)."""
    if not isinstance(raw, dict):
        errors.add(where, "must be a dict, got %r" % (raw,))
        return None
    _unknown_keys(raw, STREAM_KEYS, where, errors)
    upstream_keys = [key for key in UPSTREAM_KEYS if key not in ("keepalive", "sticky")]
    # A zone on every stream upstream: counts are exact across workers.
    # (argument_specs fill absent options with None: those take the defaults.)
    upstream = _upstream({key: raw[key] for key in upstream_keys if raw.get(key) is not None}, where, errors, None,
                         default_zone or "64k")
    if upstream is None:
        return None
    listen = to_text(raw.get("listen"), where + ".listen", errors)
    stream = Stream(name=upstream.name, listen=listen or "", upstream=upstream, where=where)
    if access_log is not None:
        stream.access_log = access_log
    stream.protocol = to_text(raw.get("protocol") or "tcp", where + ".protocol", errors) or "tcp"
    for key in ("proxy_timeout", "proxy_connect_timeout"):
        if raw.get(key) is not None:
            setattr(stream, key, to_text(raw[key], "%s.%s" % (where, key), errors) or getattr(stream, key))
    stream.proxy_protocol = to_bool(raw.get("proxy_protocol", False), where + ".proxy_protocol", errors)
    return stream


def _streams(model, streams, streams_var, errors, default_zone, access_log):
    """load_balancer_streams -> model.streams (None: the role has none)."""
    if streams is None:
        return
    if not isinstance(streams, list):
        errors.add(streams_var, "must be a list, got %s" % type(streams).__name__)
        return
    if access_log is not None:
        access_log = to_text(access_log, "load_balancer_stream_access_log", errors)
    for index, raw in enumerate(streams):
        stream = _stream(raw, "%s[%d]" % (streams_var, index), errors, default_zone, access_log)
        if stream is not None:
            model.streams.append(stream)


def model_from_vars(upstreams, locations, site_vars=None, upstreams_var="load_balancer_upstreams",
                    locations_var="load_balancer_locations", default_keepalive=None, default_zone=None,
                    overrides=None, warnings=None, streams=None, streams_var="load_balancer_streams",
                    stream_access_log=None, sites=None, mixed=None, tls_dir=None, resolver=None, nginx_version=None,
                    nginx_candidate=False):
    """Validate and normalise role input; raise ModelError naming each field.

    `site_vars` maps role variable names (SITE_VARS) to values; None builds
    a model of upstreams and locations only. `overrides`: the upstream
    state file's content (apply_overrides), applied before the one check;
    `warnings` (a list) receives what apply_overrides ignored. `streams` is
    load_balancer_streams (TCP and UDP services), checked by the same rules
    and for listen clashes. `sites` is load_balancer_sites (several server
    blocks; `site_vars` then gives what they do not set themselves), `mixed`
    the single-site variables also set (an error), `tls_dir` where the
    sites' keys and certificates go. `resolver` is load_balancer_resolver
    (the `resolver` of every upstream with a `resolve` server), and
    `nginx_version` the host's ('1.22.1'; None: unknown), for the features
    the check gates by version (_features); `nginx_candidate`: nginx is not
    installed yet and `nginx_version` is the one the host would install.
    """
    errors = _Errors()
    model = Model(origin="vars", tls_dir=tls_dir, nginx_version=nginx_version,
                  nginx_candidate=bool(nginx_candidate and nginx_version))
    if not isinstance(upstreams, list):
        errors.add(upstreams_var, "must be a list, got %s" % type(upstreams).__name__)
        upstreams = []
    if not isinstance(locations, list):
        errors.add(locations_var, "must be a list, got %s" % type(locations).__name__)
        locations = []
    for index, raw in enumerate(upstreams):
        upstream = _upstream(raw, "%s[%d]" % (upstreams_var, index), errors, default_keepalive, default_zone)
        if upstream is not None:
            model.upstreams.append(upstream)
    # With load_balancer_sites each site has its own locations.
    for index, raw in enumerate(locations if not sites else []):
        location = _location(raw, "%s[%d]" % (locations_var, index), errors)
        if location is not None:
            model.locations.append(location)
    if sites:
        _sites(model, sites, _site(site_vars or {}, errors), mixed, errors)
    elif site_vars is not None:
        model.site = _site(site_vars, errors)
    apply_overrides(model, overrides, errors, warnings if warnings is not None else [])
    _streams(model, streams, streams_var, errors, default_zone, stream_access_log)
    model.resolver = parsed_resolver = resolver_from_var(resolver, errors)
    for upstream in model.upstreams + [stream.upstream for stream in model.streams]:
        if upstream.resolves:
            upstream.resolver = parsed_resolver
    errors.extend(finding.text() for finding in check(model) if finding.severity != "info")
    # Sites share the role's header and timeout variables: one message each.
    errors[:] = list(dict.fromkeys(errors))
    if errors:
        raise ModelError(errors)
    return model


OVERRIDE_STATES = ("drained", "disabled")
OVERRIDE_KEYS = ("state", "weight")


def apply_overrides(model, overrides, errors, warnings, where=STATE_FILE):
    """Mark drained/disabled servers `down` and set overridden weights; a
    drained server of a sticky upstream gets nginx's `drain` instead where the
    host's nginx is known to have it (>= 1.29.6).

    `overrides` is ``{"upstreams": {name: {address: {"state": ..., "weight": ...}}}}``
    (None or {} for none). A wrong shape or value is an error naming its
    place in the file; an entry for an upstream or server the variables no
    longer have is ignored and named in `warnings` (the server is gone, so
    there is nothing to keep down).
    """
    if overrides in (None, {}):
        return
    if not isinstance(overrides, dict) or not isinstance(overrides.get("upstreams", {}), dict):
        errors.add(where, "must be a dict with an 'upstreams' dict, got %r" % (overrides,))
        return
    for name, entries in sorted(overrides.get("upstreams", {}).items()):
        field = "%s: upstreams.%s" % (where, name)
        upstream = model.upstream(name)
        if not isinstance(entries, dict):
            errors.add(field, "must be a dict of server address: override, got %r" % (entries,))
            continue
        if upstream is None:
            warnings.append("%s: no upstream %s in the role's variables; its overrides are ignored" % (field, name))
            continue
        servers = {server.address: server for server in upstream.servers}
        # nginx's own drain (>= 1.29.6) where it acts: clients bound by sticky finish there.
        own_drain = upstream.sticky is not None and parse_version(model.nginx_version) is not None \
            and has("drain", model.nginx_version)
        for address, entry in sorted(entries.items()):
            _override_server(servers.get(address), entry, "%s[%s]" % (field, address), errors, warnings, own_drain)


def _override_server(server, entry, field, errors, warnings, own_drain=False):
    if not isinstance(entry, dict):
        errors.add(field, "must be a dict with state and/or weight, got %r" % (entry,))
        return
    _unknown_keys(entry, OVERRIDE_KEYS, field, errors)
    state = entry.get("state")
    if state is not None and state not in OVERRIDE_STATES:
        errors.add(field + ".state", "must be one of %s, got %r" % (", ".join(OVERRIDE_STATES), state))
    weight = entry.get("weight")
    if weight is not None:
        weight = to_int(weight, field + ".weight", errors)
    if server is None:
        warnings.append("%s: no such server in the upstream's variables; its override is ignored" % field)
        return
    if state == "drained" and own_drain:
        server.drain = True
    elif state in OVERRIDE_STATES:
        server.down = True
    if weight is not None:
        server.weight = weight  # the range is _check's, like any weight


def record_from_vars(upstreams, locations, site_vars=None, default_keepalive=None, default_zone=None, hosts=None,
                     streams=None, stream_access_log=None, sites=None, mixed=None, tls_dir=None, resolver=None,
                     nginx_version=None):
    """The inputs of model_from_vars as plain data (groups already expanded):
    what the role records on the load balancer so that upstream_server
    builds the same model again (model_from_record)."""
    return {"upstreams": upstreams, "locations": locations, "site": site_vars, "keepalive": default_keepalive,
            "zone": default_zone, "hosts": hosts or {}, "streams": streams, "stream_access_log": stream_access_log,
            "sites": sites or [], "mixed": mixed or [], "tls_dir": tls_dir, "resolver": resolver,
            "nginx_version": nginx_version}


def model_from_record(record, overrides=None, warnings=None, nginx_version=None, nginx_candidate=False):
    """model_from_vars on a record (record_from_vars); ModelError naming each
    field. `nginx_version`, when given, is the host's (else the record's);
    `nginx_candidate`: the one the host would install (nginx not installed yet)."""
    if not isinstance(record, dict):
        raise ModelError(["model record: must be a dict, got %s" % type(record).__name__])
    return model_from_vars(record.get("upstreams"), record.get("locations"), site_vars=record.get("site"),
                           default_keepalive=record.get("keepalive"), default_zone=record.get("zone"),
                           overrides=overrides, warnings=warnings, streams=record.get("streams"),
                           stream_access_log=record.get("stream_access_log"), sites=record.get("sites"), mixed=record.get("mixed"),
                           tls_dir=record.get("tls_dir"), resolver=record.get("resolver"),
                           nginx_version=nginx_version or record.get("nginx_version"),
                           nginx_candidate=nginx_candidate and bool(nginx_version))


# ------------------------------------------------------------ sites

# load_balancer_sites: several server blocks, each with its own names,
# certificate, log and locations (the single-site variables describe one).
SITES_VAR = "load_balancer_sites"
SITE_KEYS = ("name", "server_names", "listen", "default", "tls", "access_log", "log_format", "real_ip", "locations")
SITE_LOCATION_KEYS = ("path", "upstream", "redirect", "return", "websocket", "buffering", "client_max_body_size",
                      "proxy_read_timeout", "headers", "allow", "rate_limit")
LOCATION_TARGETS = ("upstream", "redirect", "return")
REDIRECT_KEYS = ("to", "code")
RETURN_KEYS = ("code", "body")
REAL_IP_KEYS = ("from", "header", "proxy_protocol")
RATE_LIMIT_KEYS = ("rate", "burst")
# The single-site variables that describe the one server block: set beside
# load_balancer_sites, one of the two descriptions would be ignored.
SINGLE_SITE_VARS = ("load_balancer_locations", "load_balancer_server_name", "load_balancer_tls")


def _texts(value, where, errors):
    """A non-empty list of strings; one string (or number) is a list of one."""
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list) or not value:
        errors.add(where, "must be a non-empty list of strings, got %r" % (value,))
        return []
    texts = [to_text(item, "%s[%d]" % (where, index), errors) for index, item in enumerate(value)]
    return [text for text in texts if text is not None]


def _sub_dict(raw, key, keys, where, errors):
    """raw[key] as a dict of `keys` (None when absent or wrong, the error named)."""
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        errors.add("%s.%s" % (where, key), "must be a dict with %s, got %r" % (", ".join(keys), value))
        return None
    _unknown_keys(value, keys, "%s.%s" % (where, key), errors)
    return value


def _location_target(raw, location, where, errors):
    """The one thing a site's location does: proxy, redirect or return."""
    targets = [key for key in LOCATION_TARGETS if raw.get(key) is not None]
    if len(targets) != 1:
        errors.add(where, "must have exactly one of upstream, redirect, return, got %s" % (" and ".join(targets)
                                                                                           or "none"))
        return
    if targets == ["upstream"]:
        location.upstream = to_text(raw["upstream"], where + ".upstream", errors)
        return
    target = _sub_dict(raw, targets[0], REDIRECT_KEYS if targets == ["redirect"] else RETURN_KEYS, where, errors)
    if target is None:
        return
    location.kind = targets[0]
    field = "%s.%s" % (where, targets[0])
    if location.kind == "redirect":
        location.redirect_to = to_text(target.get("to"), field + ".to", errors)
        location.redirect_code = to_int(target.get("code", 301), field + ".code", errors)
    else:
        location.return_code = to_int(target.get("code"), field + ".code", errors)
        if target.get("body") is not None:
            location.return_body = to_text(target["body"], field + ".body", errors)


def _site_location(raw, where, errors):
    if not isinstance(raw, dict):
        errors.add(where, "must be a dict with a path and one of upstream, redirect, return, got %r" % (raw,))
        return None
    _unknown_keys(raw, SITE_LOCATION_KEYS, where, errors)
    path = to_text(raw.get("path"), where + ".path", errors)
    if path is None:
        return None
    path = _one_location_path(path)
    location = Location(path=path, upstream=None, strip_prefix=path != "/", where=where)
    _location_target(raw, location, where, errors)
    location.websocket = to_bool(raw.get("websocket", False), where + ".websocket", errors)
    if raw.get("buffering") is not None:
        location.buffering = to_bool(raw["buffering"], where + ".buffering", errors)
    for key in ("client_max_body_size", "proxy_read_timeout"):
        if raw.get(key) is not None:
            setattr(location, key, to_text(raw[key], "%s.%s" % (where, key), errors))
    if raw.get("headers") is not None:
        location.headers = _header_pairs(raw["headers"], where + ".headers", errors)
    if raw.get("allow") is not None:
        location.allow = _texts(raw["allow"], where + ".allow", errors)
    rate_limit = _sub_dict(raw, "rate_limit", RATE_LIMIT_KEYS, where, errors)
    if rate_limit is not None:
        location.rate_limit = RateLimit(rate=to_text(rate_limit.get("rate"), where + ".rate_limit.rate", errors) or "",
                                        burst=to_int(rate_limit.get("burst", 0), where + ".rate_limit.burst", errors) or 0)
    return location


def _real_ip(raw, where, errors):
    real_ip = _sub_dict(raw, "real_ip", REAL_IP_KEYS, where, errors)
    if real_ip is None:
        return None
    field = where + ".real_ip"
    result = RealIp(networks=_texts(real_ip.get("from"), field + ".from", errors))
    result.proxy_protocol = to_bool(real_ip.get("proxy_protocol", False), field + ".proxy_protocol", errors)
    if result.proxy_protocol:
        if real_ip.get("header") is not None:
            errors.add(field, "takes either header or proxy_protocol, not both")
        result.header = None
    elif real_ip.get("header") is not None:
        result.header = to_text(real_ip["header"], field + ".header", errors)
    return result


def _one_site(raw, where, base, errors):
    """One entry of load_balancer_sites; what it does not set comes from the
    role's server-block variables (`base`: headers, timeouts, tokens)."""
    if not isinstance(raw, dict):
        errors.add(where, "must be a dict with a name, server_names and locations, got %r" % (raw,))
        return None
    _unknown_keys(raw, SITE_KEYS, where, errors)
    site = copy.deepcopy(base)
    site.where = dict(base.where)
    site.where.update({attr: "%s.%s" % (where, attr) for attr in ("name", "server_names", "listen", "default", "tls",
                                                                  "access_log", "log_format", "real_ip",
                                                                  "locations")})
    site.name = to_text(raw.get("name"), where + ".name", errors) or ""
    if raw.get("server_names") is None:
        errors.add(where + ".server_names", "is required: the names this site answers (a list)")
    else:
        names = raw["server_names"]
        # A string is space-separated names (as load_balancer_server_name); a list item is one name.
        site.server_names = _words(names) if isinstance(names, str) else _texts(names, where + ".server_names", errors)
    if raw.get("listen") is not None:
        site.listens = _texts(raw["listen"], where + ".listen", errors)
    else:
        site.listens = [base.listen]
    site.listen = (site.listens or [base.listen])[0]
    site.default = to_bool(raw.get("default", False), where + ".default", errors)
    site.tls = tls_from_var(raw.get("tls"), where + ".tls", errors)
    if site.tls.mode == "acme" and not site.tls.domains:
        # ACME certifies the site's own names unless domains says otherwise.
        site.tls.domains = plain_dns_names(site.server_names)
    if raw.get("access_log") is not None:
        site.access_log = to_text(raw["access_log"], where + ".access_log", errors) or site.access_log
    elif SITE_NAME_RE.match(site.name):
        site.access_log = "/var/log/nginx/%s.access.log" % site.name
    site.log_format = to_text(raw.get("log_format") or "combined", where + ".log_format", errors) or "combined"
    site.real_ip = _real_ip(raw, where, errors)
    locations = raw.get("locations")
    if not isinstance(locations, list) or not locations:
        errors.add(where + ".locations", "must be a non-empty list of locations")
        locations = []
    for index, raw_location in enumerate(locations):
        location = _site_location(raw_location, "%s.locations[%d]" % (where, index), errors)
        if location is not None:
            location.server_block = site.name
            site.locations.append(location)
    return site


def _sites(model, sites, base, mixed, errors):
    """load_balancer_sites -> model.sites; their proxied locations also go to
    model.locations, so every upstream reference is checked once."""
    if not isinstance(sites, list):
        errors.add(SITES_VAR, "must be a list, got %s" % type(sites).__name__)
        return
    if mixed:
        errors.add(SITES_VAR, "cannot be combined with %s: describe every server block in load_balancer_sites "
                   "(docs/migration.md)" % ", ".join(mixed))
    for index, raw in enumerate(sites):
        site = _one_site(raw, "%s[%d]" % (SITES_VAR, index), base, errors)
        if site is not None:
            model.sites.append(site)
            model.locations.extend(location for location in site.locations if location.kind == "proxy")
