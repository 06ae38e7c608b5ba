# -*- coding: utf-8 -*-
# Copyright: edgeops engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One check of the model, for role input and for a live config alike.

``check(model)`` returns findings: ``error`` (nginx would refuse it, or it
cannot balance), ``warning`` (nginx takes it but it is a mistake) and
``info``. The lb_model filter refuses errors and warnings; nginx_validate's
lint reports all of them. The wording is the same for both, each naming the
field: a role variable path for role input, the nginx object for a config.

A value that breaks one of the collection's syntax rules (the allow-lists of
``_syntax``) is an error in role input (it would be written into a config);
read from a config that nginx has accepted it is only a warning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from ansible_collections.edgeops.nginx_lb.plugins.module_utils import _syntax as syntax
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._constants import WEIGHT_RANGE
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._convert import seconds
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._features import missing
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model import (
    METHODS, METHODS_WITHOUT_BACKUP, STREAM_METHODS, STREAM_PROTOCOLS)
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._render import LOG_FORMATS, method_args, rate_limit_zone
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._tls import (
    ACME_CHALLENGE_PATH, acme_location_in_server, check_tls)

# sticky cookie's samesite values (nginx also takes a $variable; the role does not).
SAMESITE_VALUES = ("strict", "lax", "none")
MAX_FAILS_RANGE = (0, 1000)
MAX_CONNS_RANGE = (0, 1000000)
KEEPALIVE_RANGE = (1, 100000)
# nginx refuses a zone under 8 pages ("zone is too small").
ZONE_RANGE = (32 * 1024, 1024 ** 3)
ACCESS_LOG_BUFFER_RANGE = (1024, 64 * 1024 ** 2)
# Timeouts and fail_timeout: up to one year (nginx overflows near 1e10 s).
MAX_SECONDS = 31536000
MAX_SERVER_NAMES = 64
MAX_RESOLVER_ADDRESSES = 16
MAX_HEADERS = 64
NEXT_UPSTREAM = ("error", "timeout", "invalid_header", "http_500", "http_502", "http_503", "http_504",
                 "http_403", "http_404", "http_429", "non_idempotent", "off")
# Headers the template sets itself (keep-alive to the backends needs it empty).
RESERVED_HEADERS = ("connection",)
# Extra directives: simple directives of the server block, from an allow-list
# of nginx's http core, proxy, headers, gzip, realip and access modules. No
# block, no include, no listen, no file path (logs have their own variable),
# nothing that loads code or defines variables;
# their arguments are quoted, and nginx -t judges what they mean.
EXTRA_DIRECTIVES = frozenset("""
absolute_redirect add_header add_trailer allow charset
chunked_transfer_encoding client_body_buffer_size client_body_timeout client_header_buffer_size
client_header_timeout client_max_body_size default_type deny error_page etag expires gzip
gzip_comp_level gzip_min_length gzip_proxied gzip_types gzip_vary if_modified_since ignore_invalid_headers
keepalive_requests keepalive_timeout large_client_header_buffers limit_rate limit_rate_after lingering_close
lingering_time lingering_timeout log_not_found merge_slashes port_in_redirect proxy_buffer_size proxy_buffering
proxy_buffers proxy_busy_buffers_size proxy_cookie_domain proxy_cookie_path proxy_hide_header
proxy_ignore_headers proxy_intercept_errors proxy_max_temp_file_size proxy_pass_header proxy_redirect
proxy_request_buffering proxy_send_timeout proxy_ssl_server_name real_ip_header real_ip_recursive
reset_timedout_connection satisfy send_timeout sendfile server_name_in_redirect set_real_ip_from tcp_nodelay
tcp_nopush underscores_in_headers
""".split())
# Directives the template writes from their own variables: a second one is
# refused by nginx ("is duplicate").
TEMPLATE_DIRECTIVES = ("server_tokens", "proxy_http_version", "proxy_connect_timeout", "proxy_read_timeout",
                       "proxy_next_upstream")
# Directives nginx takes more than once in one block.
REPEATABLE_DIRECTIVES = ("add_header", "add_trailer", "proxy_hide_header", "proxy_pass_header", "error_page",
                         "allow", "deny", "set_real_ip_from", "proxy_cookie_domain", "proxy_cookie_path",
                         "proxy_redirect")


@dataclass
class Finding:
    severity: str
    field: str
    message: str
    subject: Optional[str] = None
    file: Optional[str] = None
    line: Optional[int] = None

    def text(self):
        return "%s: %s" % (self.field, self.message)

    def to_dict(self):
        return {"severity": self.severity, "message": self.text(), "subject": self.subject,
                "file": self.file, "line": self.line}


class _Findings(list):
    def __init__(self, model):
        super().__init__()
        self.from_vars = model.origin == "vars"
        # Syntax rules are errors in role input, warnings in an accepted config.
        self.syntax_severity = "error" if self.from_vars else "warning"
        # The host's nginx version (None: unknown), or the one it would install
        # (nginx_candidate): a feature it lacks is an error.
        self.nginx_version = model.nginx_version
        self.nginx_candidate = model.nginx_candidate

    def lacking(self, feature):
        """The error text when the host's nginx lacks `feature`, else None."""
        return missing(feature, self.nginx_version, self.nginx_candidate)

    def add(self, severity, field, message, obj=None, subject=None):
        self.append(Finding(severity, field, message, subject, getattr(obj, "file", None), getattr(obj, "line", None)))

    def syntax(self, field, message, obj=None, subject=None):
        self.add(self.syntax_severity, field, message, obj, subject)


def _field(obj, attr, fallback):
    where = getattr(obj, "where", None) or fallback
    return "%s.%s" % (where, attr) if attr else where


def _in_range(findings, field, value, bounds, obj=None):
    low, high = bounds
    if value is not None and not low <= value <= high:
        findings.syntax(field, "must be %d-%d, got %d" % (low, high, value), obj)


def _time(findings, field, value, allow_ms, obj=None):
    try:
        if seconds(value, allow_ms) > MAX_SECONDS:
            findings.syntax(field, "must be at most one year (%ds), got %r" % (MAX_SECONDS, value), obj)
    except ValueError as exc:
        findings.syntax(field, str(exc), obj)


def _size(findings, field, value, bounds, obj=None):
    try:
        size = syntax.size_bytes(value)
    except ValueError as exc:
        findings.syntax(field, str(exc), obj)
        return
    if not bounds[0] <= size <= bounds[1]:
        findings.syntax(field, "must be %dk-%dm, got %r" % (bounds[0] // 1024, bounds[1] // 1024 ** 2, value), obj)


def _value_text(findings, field, value, obj=None, stream=False):
    """Free text quoted into the config: ASCII, no control character, known
    variables (of the stream module with `stream`)."""
    if len(value) > syntax.MAX_TOKEN:
        findings.syntax(field, "must be at most %d characters, got %d" % (syntax.MAX_TOKEN, len(value)), obj)
    elif not value.isascii() or syntax.has_control(value):
        findings.syntax(field, "must be printable ASCII (no newline or other control character), got %r" % (value,), obj)
    elif syntax.dangling_dollar(value):
        findings.syntax(field, "has a '$' that starts no variable name, got %r" % (value,), obj)
    elif syntax.unknown_variables(value, stream):
        findings.syntax(field, "uses variables nginx%s does not define: %s" % (
            "'s stream module" if stream else "", ", ".join(
                "$" + name for name in syntax.unknown_variables(value, stream))), obj)


def _check_server(findings, upstream, server, seen):
    where = server.where or "upstream %s server %s" % (upstream.name, server.address)
    subject = upstream.name
    try:
        address = syntax.format_address(*syntax.parse_address(server.address))
    except ValueError as exc:
        if findings.from_vars:  # a config may hold unix: sockets and bare names
            findings.syntax(where + ".address", str(exc), upstream, subject)
        address = server.address
    if address in seen:
        findings.add("warning", _field(server, "address", where), "duplicate server %s (listed twice in upstream %r)"
                     % (address, upstream.name), upstream, subject)
    seen.add(address)
    _in_range(findings, _field(server, "weight", where), server.weight, WEIGHT_RANGE, upstream)
    _in_range(findings, _field(server, "max_fails", where), server.max_fails, MAX_FAILS_RANGE, upstream)
    _in_range(findings, _field(server, "max_conns", where), server.max_conns, MAX_CONNS_RANGE, upstream)
    if server.fail_timeout is not None:
        _time(findings, _field(server, "fail_timeout", where), server.fail_timeout, False, upstream)
    if server.resolve:
        _check_resolve_server(findings, upstream, server, where)
    if server.backup and upstream.method in METHODS_WITHOUT_BACKUP:
        findings.add("error", _field(server, "backup", where),
                     "nginx does not allow backup with method %s (it accepts it only when the method comes after "
                     "the servers)" % upstream.method, upstream, subject)


def _check_resolve_server(findings, upstream, server, where):
    """`server NAME resolve`: a host name, a resolver to ask, and an nginx that has it."""
    subject = upstream.name
    host = server.address.rpartition(":")[0]
    if not syntax.RESOLVE_NAME_RE.match(host):
        findings.syntax(_field(server, "address", where), "resolve needs a host name of RFC 1123 labels (letters, "
                        "digits, inner '-', dot-separated, no trailing dot) and a port, got %r" % (server.address,),
                        upstream, subject)
    if upstream.resolver is None and findings.from_vars:
        findings.add("error", _field(server, "resolve", where), "needs load_balancer_resolver (the DNS servers nginx "
                     "asks for %s), none is set" % host, upstream, subject)
    lacking = findings.lacking("resolve")
    if lacking:
        findings.add("error", _field(server, "resolve", where), lacking, upstream, subject)


def _check_resolver(findings, resolver, obj=None):
    """load_balancer_resolver (or an upstream's `resolver` read from a config)."""
    where = resolver.where or "resolver"
    addresses = resolver.addresses
    if not addresses or len(addresses) > MAX_RESOLVER_ADDRESSES:
        findings.syntax(where + ".addresses", "must list 1-%d DNS servers, got %d"
                        % (MAX_RESOLVER_ADDRESSES, len(addresses)), obj)
    for index, address in enumerate(addresses):
        try:
            syntax.parse_resolver_address(address)
        except ValueError as exc:
            findings.syntax("%s.addresses[%d]" % (where, index), str(exc), obj)
    if resolver.valid is not None:
        _time(findings, where + ".valid", resolver.valid, False, obj)
    if resolver.timeout is not None:
        _time(findings, where + ".timeout", resolver.timeout, True, obj)


def _check_upstream_name(findings, field, upstream, names):
    """A name that nginx takes for one already given: upstream names compare
    without case; an upstream's zone takes its name, and the role's own
    nginx.conf declares ROLE_ZONE_NAMES."""
    same = [name for name in names if name.lower() == upstream.name.lower()]
    if same:
        findings.add("error", field, "duplicate upstream name %r%s" % (
            upstream.name, "" if same[0] == upstream.name else
            " (nginx compares upstream names without case: %r is given before)" % same[0]), upstream, upstream.name)
    if findings.from_vars and upstream.name in syntax.ROLE_ZONE_NAMES:
        findings.add("error", field, "%r is the shared memory zone of the role's ssl_session_cache (nginx.conf); an "
                     "upstream's zone takes the upstream's name and would clash: choose another name"
                     % upstream.name, upstream, upstream.name)


def _check_upstream(findings, upstream, names, stream=False):
    """One upstream; `stream`: of nginx's stream module (its methods and variables)."""
    where = upstream.where or "upstream %s" % upstream.name
    subject = upstream.name

    def field(attr):
        return _field(upstream, attr, where)

    if not syntax.NAME_RE.match(upstream.name):
        findings.syntax(field("name"), "must be 1-128 letters, digits, '_', '.', '-', got %r" % (upstream.name,),
                        upstream, subject)
    _check_upstream_name(findings, field("name"), upstream, names)
    names.add(upstream.name)
    methods = STREAM_METHODS if stream else METHODS
    if upstream.method not in methods:
        findings.syntax(field("method"), "must be one of %s, got %r%s" % (
            ", ".join(methods), upstream.method,
            " (the stream module has no ip_hash: use hash with hash_key $remote_addr)"
            if stream and upstream.method == "ip_hash" else ""), upstream, subject)
    if upstream.method == "hash":
        key = upstream.hash_key or ""
        if not key.strip():
            findings.add("error", field("hash_key"), "is required with method hash (e.g. %s)"
                         % ("$remote_addr" if stream else "$request_uri"), upstream, subject)
        elif len(key) > 256 or not syntax.HASH_KEY_RE.match(key):
            findings.syntax(field("hash_key"), "must be nginx variables and letters, digits, '_', '.', ':', '/', '-' "
                            "(at most 256), got %r" % (key,), upstream, subject)
        else:
            _value_text(findings, field("hash_key"), key, upstream, stream)
    elif upstream.hash_key is not None:
        findings.add("error", field("hash_key"), "is only valid with method hash", upstream, subject)
    if upstream.consistent and upstream.method != "hash":
        findings.add("error", field("consistent"), "is only valid with method hash", upstream, subject)
    if upstream.two and upstream.method != "random":
        findings.add("error", field("two"), "is only valid with method random", upstream, subject)
    _in_range(findings, field("keepalive"), upstream.keepalive, KEEPALIVE_RANGE, upstream)
    if upstream.zone is not None and findings.from_vars:  # a config's zone may be a name without a size
        _size(findings, field("zone"), upstream.zone, ZONE_RANGE, upstream)
    if upstream.sticky is not None:
        _check_sticky(findings, upstream, field("sticky"))
    if not upstream.servers:
        findings.add("error", field("servers"), "has no server", upstream, subject)
        return
    seen = set()
    for server in upstream.servers:
        _check_server(findings, upstream, server, seen)
    if not upstream.usable_servers:
        findings.add("error", field("servers"), "has no usable server (all are backup or down)", upstream, subject)
    if upstream.resolves and upstream.zone is None:
        findings.add("error", field("zone"), "is required with resolve (nginx keeps the re-resolved addresses in the "
                     "upstream's shared memory zone): remove zone false or give a size", upstream, subject)
    if upstream.zone is None and len(upstream.servers) > 1:
        findings.add("info", where, "has no zone: each worker keeps its own balancing state, so counts are only "
                     "approximately as weighted", upstream, subject)


def _check_sticky(findings, upstream, where):
    """`sticky cookie`: each field by its allow-list, and the host's nginx has it."""
    sticky = upstream.sticky
    subject = upstream.name
    lacking = findings.lacking("sticky")
    if lacking:
        findings.add("error", where, lacking, upstream, subject)
    if not syntax.COOKIE_NAME_RE.match(sticky.cookie):
        findings.syntax(where + ".cookie", "must be 1-64 letters, digits, '_' or '-', got %r" % (sticky.cookie,),
                        upstream, subject)
    if sticky.expires is not None and sticky.expires != "max":
        _time(findings, where + ".expires", sticky.expires, False, upstream)
    if sticky.path is not None and not syntax.PATH_RE.match(sticky.path):
        findings.syntax(where + ".path", "must be a path like / or /app (letters, digits, '.', '_', '~', '-', '/'), "
                        "got %r" % (sticky.path,), upstream, subject)
    if sticky.samesite is not None and sticky.samesite not in SAMESITE_VALUES:
        findings.syntax(where + ".samesite", "must be one of %s, got %r" % (", ".join(SAMESITE_VALUES),
                                                                            sticky.samesite), upstream, subject)
    if sticky.samesite == "none" and not sticky.secure:
        findings.add("warning", where + ".samesite", "none without secure: browsers drop such a cookie "
                     "(set secure: true)", upstream, subject)


def _check_location(findings, location, names, paths):
    where = location.where or "location %s" % location.path
    subject = location.path

    def field(attr):
        return _field(location, attr, where)

    _check_location_path(findings, field("path"), location.path, location)
    # Per server block: two servers (other ports or names) may both have /x.
    if (location.server_block, location.path) in paths:
        findings.add("error", field("path"), "duplicate location path %r" % location.path, location, subject)
    paths.add((location.server_block, location.path))
    # A site's redirect or return names no upstream.
    if location.kind == "proxy" and location.upstream not in names:
        # A config may proxy to a host or a variable: not an upstream of ours.
        if findings.from_vars or not re.search(r"[$.:]", location.upstream):
            findings.add("error", field("upstream"), "names undefined upstream %r (defined: %s)"
                         % (location.upstream, ", ".join(repr(name) for name in sorted(names)) or "none"), location, subject)
    uri = location.proxy_uri
    if location.modifier == "" and uri is not None and uri.endswith("/") and not location.path.endswith("/"):
        findings.add(
            "warning", where,
            "strips its prefix with proxy_pass URI %r: %s/x reaches the backend as /%s/x (double slash) and %sX is "
            "proxied too; use `location = %s` plus `location %s/` with a rewrite"
            % (uri, location.path, uri.strip("/"), location.path, location.path, location.path), location, subject)


def _check_location_path(findings, field, path, obj=None):
    """One location path (also the per-site check of one path)."""
    try:
        syntax.check_location_path(path)
    except ValueError as exc:
        findings.syntax(field, str(exc), obj, path)


def _check_server_names(findings, field, names):
    """One server_name list: each name as nginx reads it (check_server_name)."""
    if not names or len(names) > MAX_SERVER_NAMES:
        findings.syntax(field, "must hold 1-%d names, got %d" % (MAX_SERVER_NAMES, len(names)))
    for name in names:
        try:
            syntax.check_server_name(name)
        except ValueError as exc:
            findings.syntax(field, str(exc))


def _check_listen(findings, field, listen, obj=None, subject=None):
    """One listen (port, IPv4:port or [IPv6]:port); its (address, port) or None."""
    try:
        return syntax.parse_listen(listen)
    except ValueError as exc:
        findings.syntax(field, "must be a port, address:port or [ipv6]:port: %s" % exc, obj, subject)
    return None


def _check_site(findings, site):
    def field(attr):
        return site.where.get(attr, attr)

    listen = _check_listen(findings, field("listen"), site.listen)
    _check_server_names(findings, field("server_names"), site.server_names)
    if site.access_log != "off" and not syntax.FILE_PATH_RE.match(site.access_log):
        findings.syntax(field("access_log"), "must be 'off' or an absolute path of letters, digits and . _ - / "
                        "(at most 1024), got %r" % (site.access_log,))
    if site.access_log_buffer:
        _size(findings, field("access_log_buffer"), site.access_log_buffer, ACCESS_LOG_BUFFER_RANGE)
    if len(site.proxy_set_headers) > MAX_HEADERS:
        findings.syntax(field("proxy_set_headers"), "must hold at most %d headers" % MAX_HEADERS)
    seen = set()
    for name, value in site.proxy_set_headers:
        where = "%s.%s" % (field("proxy_set_headers"), name)
        if not syntax.HEADER_NAME_RE.match(name):
            findings.syntax(where, "header name must be letters, digits, '-', '_' (at most %d: nginx's "
                            "proxy_headers_hash holds no longer one), got %r" % (syntax.MAX_HEADER_NAME, name))
        elif name.lower() in RESERVED_HEADERS:
            findings.syntax(where, "is set by the role itself (upstream keep-alive needs it empty)")
        elif name.lower() in seen:
            findings.syntax(where, "duplicate header %r" % name)
        seen.add(name.lower())
        _value_text(findings, where, value)
    _time(findings, field("proxy_connect_timeout"), site.proxy_connect_timeout, True)
    _time(findings, field("proxy_read_timeout"), site.proxy_read_timeout, True)
    tokens = site.proxy_next_upstream
    wrong = [token for token in tokens if token not in NEXT_UPSTREAM]
    if not tokens or wrong or ("off" in tokens and len(tokens) > 1) or len(set(tokens)) != len(tokens):
        findings.syntax(field("proxy_next_upstream"), "must be 'off' or distinct words of %s, got %r"
                        % (", ".join(NEXT_UPSTREAM[:-1]), " ".join(tokens)))
    if site.tls is not None:
        check_tls(site.tls, listen[1] if listen else None, findings.syntax)
    names = set()
    for index, directive in enumerate(site.extra_directives):
        where = "%s[%d]" % (field("extra_directives"), index)
        _check_extra_directive(findings, where, directive)
        name = directive[0] if directive else None
        if name in TEMPLATE_DIRECTIVES:
            findings.syntax(where, "%s is set by the role from its own variable; set that instead" % name)
        elif name in names and name not in REPEATABLE_DIRECTIVES:
            findings.syntax(where, "%s is given twice (nginx refuses a duplicate)" % name)
        names.add(name)


def _check_acme_location(findings, site, locations):
    """A location the template writes beside its ACME challenge location
    (`location ^~ /.well-known/acme-challenge/`) in the same server block:
    nginx refuses the pair ("duplicate location")."""
    if site.tls is None or not acme_location_in_server(site.tls):
        return
    for location in locations:
        if location.server_block == site.name and location.strip_prefix and location.path == ACME_CHALLENGE_PATH:
            findings.syntax(_field(location, "path", "location %s" % location.path),
                            "%s is the ACME HTTP-01 location that %s.mode acme writes into this server block (with "
                            "redirect false); nginx refuses a second one: remove this location"
                            % (ACME_CHALLENGE_PATH, site.tls.where or "load_balancer_tls"), location, location.path)


def _check_extra_directive(findings, field, directive):
    if not directive:
        findings.syntax(field, "must be one simple directive like 'add_header X-Frame-Options DENY always'")
        return
    name = directive[0]
    if name not in EXTRA_DIRECTIVES and name not in TEMPLATE_DIRECTIVES:
        findings.syntax(field, "directive %r is not one the role takes here (add_header, client_max_body_size, "
                        "keepalive_timeout, proxy_buffering, gzip and the other simple directives of nginx's http "
                        "core, proxy, headers, gzip, realip and access modules)" % (name[:64],))
    for arg in directive[1:]:
        _value_text(findings, field, arg)


def check(model):
    """Every finding on `model`, in input order."""
    findings = _Findings(model)
    names = set()
    for upstream in model.upstreams:
        _check_upstream(findings, upstream, names)
    paths = set()
    # Sites check their own locations (_check_sites), proxied or not.
    for location in model.locations if not model.sites else []:
        _check_location(findings, location, names, paths)
    used = {location.upstream for location in model.locations}
    for upstream in model.upstreams:
        if upstream.name not in used and model.origin == "config":
            findings.add("info", upstream.where or "upstream %s" % upstream.name, "is not used by any location",
                         upstream, upstream.name)
    if model.site is not None and model.origin == "vars":
        _check_site(findings, model.site)
        _check_acme_location(findings, model.site, model.locations)
    for site in model.sites:
        _check_site(findings, site)
        _check_acme_location(findings, site, site.locations)
    _check_sites(findings, model, names)
    _check_streams(findings, model, names)
    resolvers = [model.resolver] + [upstream.resolver for upstream in model.upstreams] + [
        stream.upstream.resolver for stream in model.streams if stream.upstream is not None]
    for resolver in {id(resolver): resolver for resolver in resolvers if resolver is not None}.values():
        _check_resolver(findings, resolver)
    return findings


# ------------------------------------------------------------ streams

def _listen_key(parsed, protocol):
    """(protocol, address or None, port) of a parsed listen (parse_listen); None when it is not one."""
    if parsed is None:
        return None
    host, port = parsed
    return protocol, None if host in (None, "0.0.0.0", "[::]") else host, port


def _clash(one, other):
    """Two listens clash: same protocol and port, and the same address or a wildcard."""
    return one[0] == other[0] and one[2] == other[2] and (one[1] is None or other[1] is None or one[1] == other[1])


def _http_listens(model):
    """(field, listen key) of the server block's TCP listens (plain and TLS)."""
    if model.origin != "vars":
        return []
    if model.sites:
        return [(where, key) for site in model.sites for where, key, dummy, dummy in _site_listen_keys(site)]
    site = model.site
    if site is None:
        return []
    listens = []
    try:
        plain = _listen_key(syntax.parse_listen(site.listen), "tcp")
    except ValueError:
        plain = None  # _check_site names it
    if plain is not None:
        listens.append((site.where.get("listen", "listen"), plain))
        if site.tls is not None and site.tls.on:
            listens.append((site.where.get("tls", "tls") + ".port", ("tcp", plain[1], site.tls.port)))
    return listens


def _check_streams(findings, model, names):
    """Every stream: its upstream by the rules of any upstream (names shared
    with the HTTP upstreams: nginx's zones share one namespace), plus what
    only a stream has."""
    taken = _http_listens(model)
    checked = set()
    for stream in model.streams:
        where = stream.where or "stream %s" % stream.listen
        subject = stream.name

        def field(attr, stream=stream, where=where):
            return _field(stream, attr, where)

        if stream.protocol not in STREAM_PROTOCOLS:
            findings.syntax(field("protocol"), "must be one of %s, got %r"
                            % (", ".join(STREAM_PROTOCOLS), stream.protocol), stream, subject)
        # (An unknown protocol is named above; its listen clashes with nothing.)
        key = _listen_key(_check_listen(findings, field("listen"), stream.listen, stream, subject),
                          stream.protocol if stream.protocol in STREAM_PROTOCOLS else "?")
        if key is not None:
            for other_field, other in taken if key[0] in STREAM_PROTOCOLS else []:
                if _clash(key, other):
                    findings.add("error", field("listen"), "%s port %d is already taken by %s"
                                 % (stream.protocol, key[2], other_field), stream, subject)
                    break
            taken.append((field("listen"), key))
        _time(findings, field("proxy_timeout"), stream.proxy_timeout, True, stream)
        _time(findings, field("proxy_connect_timeout"), stream.proxy_connect_timeout, True, stream)
        if stream.access_log != "off" and not syntax.FILE_PATH_RE.match(stream.access_log):
            findings.syntax("load_balancer_stream_access_log" if findings.from_vars else field("access_log"),
                            "must be 'off' or an absolute path of letters, digits and . _ - / (at most 1024), got %r"
                            % (stream.access_log,), stream, subject)
        upstream = stream.upstream
        if upstream is None:
            # A config's proxy_pass to an address, not to an upstream block.
            findings.add("info", where, "proxies to no upstream of this configuration", stream, subject)
            continue
        if upstream.zone is None and findings.from_vars:
            findings.add("error", field("zone"), "is required on a stream (counts are exact only with one balancing "
                         "state for all workers)", stream, subject)
        if stream.protocol == "udp":
            _check_udp(findings, stream, field, subject)
        if id(upstream) not in checked:  # a config's servers may share one upstream
            checked.add(id(upstream))
            _check_upstream(findings, upstream, names, stream=True)


def _check_udp(findings, stream, field, subject):
    """Combinations nginx takes over UDP that cannot work as meant."""
    upstream = stream.upstream
    if upstream.method == "least_conn" or (upstream.method == "random" and upstream.two):
        findings.add("error", field("method"), "%s compares active connections, which UDP sessions of one datagram "
                     "do not hold: use round_robin or hash" % " ".join(method_args(upstream)), stream, subject)
    if stream.proxy_protocol:
        findings.add("error", field("proxy_protocol"), "is for TCP: a UDP backend cannot read the PROXY header",
                     stream, subject)


def lint(model):
    """check() as nginx_validate reports it: a list of dicts."""
    return [finding.to_dict() for finding in check(model)]


# ------------------------------------------------------------ sites

REDIRECT_CODES = (301, 302, 303, 307, 308)
# return: nginx's codes, and 444 (close the connection without an answer).
RETURN_CODE_RANGE = (200, 599)
BODY_SIZE_RANGE = (0, 1024 ** 3)   # 0: no limit
BURST_RANGE = (0, 100000)
RATE_RANGE = (1, 100000)
MAX_NETWORKS = 64
# Headers a WebSocket location sets itself.
WEBSOCKET_HEADERS = ("connection", "upgrade")


def _check_networks(findings, field, networks):
    if len(networks) > MAX_NETWORKS:
        findings.syntax(field, "must hold at most %d networks, got %d" % (MAX_NETWORKS, len(networks)))
    for network in networks:
        try:
            syntax.parse_network(network)
        except ValueError as exc:
            findings.syntax(field, str(exc))


def _check_headers(findings, field, headers, reserved):
    if len(headers) > MAX_HEADERS:
        findings.syntax(field, "must hold at most %d headers" % MAX_HEADERS)
    seen = set()
    for name, value in headers:
        where = "%s.%s" % (field, name)
        if not syntax.HEADER_NAME_RE.match(name):
            findings.syntax(where, "header name must be letters, digits, '-', '_' (at most 64), got %r" % (name,))
        elif name.lower() in reserved:
            findings.syntax(where, "is set by the role itself (upstream keep-alive and WebSocket upgrades need it)")
        elif name.lower() in seen:
            findings.syntax(where, "duplicate header %r" % name)
        seen.add(name.lower())
        _value_text(findings, where, value)


def _check_site_location(findings, location, names, paths):
    """One location of a site: the rules of every location, then its own options."""
    where = location.where

    def field(attr):
        return "%s.%s" % (where, attr)

    _check_location(findings, location, names, paths)
    if location.kind == "redirect":
        target = location.redirect_to or ""
        if len(target) > syntax.MAX_TOKEN or not syntax.REDIRECT_RE.match(target):
            findings.syntax(field("redirect.to"), "must be an http(s) URL or a path of letters, digits and "
                            "._~/%%$&=?:+,- (at most %d), got %r" % (syntax.MAX_TOKEN, target))
        else:
            _value_text(findings, field("redirect.to"), target)
        if location.redirect_code not in REDIRECT_CODES:
            findings.syntax(field("redirect.code"), "must be one of %s, got %r"
                            % (", ".join(map(str, REDIRECT_CODES)), location.redirect_code))
    elif location.kind == "return":
        code = location.return_code
        if code is None or not (RETURN_CODE_RANGE[0] <= code <= RETURN_CODE_RANGE[1] or code == 444):
            findings.syntax(field("return.code"), "must be 200-599 or 444, got %r" % (code,))
        if location.return_body is not None:
            if code == 444 or (code is not None and 300 <= code <= 399):
                findings.syntax(field("return.body"), "is not sent with code %s (use redirect for 3xx)" % code)
            _value_text(findings, field("return.body"), location.return_body)
    if location.kind != "proxy":
        for attr in ("websocket", "buffering", "proxy_read_timeout", "headers", "rate_limit"):
            if getattr(location, attr) not in (None, False, []):
                findings.syntax(field(attr), "is only valid with upstream (this location answers by %s)"
                                % location.kind)
    if location.client_max_body_size is not None:
        _size(findings, field("client_max_body_size"), location.client_max_body_size, BODY_SIZE_RANGE)
    if location.proxy_read_timeout is not None:
        _time(findings, field("proxy_read_timeout"), location.proxy_read_timeout, True)
    _check_headers(findings, field("headers"), location.headers,
                   RESERVED_HEADERS + (WEBSOCKET_HEADERS if location.websocket else ()))
    _check_networks(findings, field("allow"), location.allow)
    if location.rate_limit is not None:
        match = syntax.RATE_RE.match(location.rate_limit.rate)
        if not match or not RATE_RANGE[0] <= int(match.group("number")) <= RATE_RANGE[1]:
            findings.syntax(field("rate_limit.rate"), "must be requests per second or minute like 5r/s or 30r/m "
                            "(1-%d), got %r" % (RATE_RANGE[1], location.rate_limit.rate))
        _in_range(findings, field("rate_limit.burst"), location.rate_limit.burst, BURST_RANGE)


def _check_one_site(findings, site, names):
    def field(attr):
        return site.where.get(attr, attr)

    if not syntax.SITE_NAME_RE.match(site.name or ""):
        findings.syntax(field("name"), "must be 1-64 lowercase letters, digits, '_' (file, log and zone names), "
                        "got %r" % (site.name,))
    for listen in site.listens[1:]:  # the first is the site's `listen`, checked with the server block
        _check_listen(findings, field("listen"), listen)
    if len(set(site.listens)) != len(site.listens):
        findings.syntax(field("listen"), "lists a listen twice: %s" % ", ".join(site.listens))
    if site.log_format not in LOG_FORMATS:
        findings.syntax(field("log_format"), "must be one of %s, got %r" % (", ".join(LOG_FORMATS), site.log_format))
    if site.real_ip is not None:
        _check_networks(findings, field("real_ip") + ".from", site.real_ip.networks)
        if site.real_ip.header is not None and not syntax.HEADER_NAME_RE.match(site.real_ip.header):
            findings.syntax(field("real_ip") + ".header", "must be a header name (letters, digits, '-', '_'), got %r"
                            % (site.real_ip.header,))
    paths = set()
    for location in site.locations:
        _check_site_location(findings, location, names, paths)


def _site_listen_keys(site):
    """(field, (host, port), tls, proxy_protocol) of every listen of a site."""
    keys = []
    tls = site.tls if site.tls is not None and site.tls.on else None
    proxy_protocol = site.real_ip is not None and site.real_ip.proxy_protocol
    for listen in site.listens:
        try:
            key = _listen_key(syntax.parse_listen(listen), "tcp")
        except ValueError:
            continue  # _check_one_site names it
        keys.append((site.where.get("listen", "listen"), key, False, proxy_protocol))
        if tls is not None:
            keys.append((site.where.get("tls", "tls") + ".port", ("tcp", key[1], tls.port), True, proxy_protocol))
    return keys


def _check_sites(findings, model, names):
    """Every site, and what sites sharing a listen must agree on: nginx
    applies ssl and proxy_protocol to the address and port, not the server;
    one default server per listen; one site per server name and listen."""
    seen_names = {}
    sockets = {}
    for site in model.sites:
        _check_one_site(findings, site, names)
        if site.name in seen_names:
            findings.add("error", site.where.get("name", "name"), "duplicate site name %r (also %s)"
                         % (site.name, seen_names[site.name]))
        seen_names.setdefault(site.name, site.where.get("name"))
        for where, key, tls, proxy_protocol in _site_listen_keys(site):
            for other_where, other_key, other_tls, other_pp, other_site in sockets.get(key[2], []):
                if not _clash(key, other_key) or other_site is site:
                    continue
                if tls != other_tls:
                    findings.add("error", where, "port %d is %s here and %s in %s (nginx serves one port either "
                                 "with TLS or without)" % (key[2], "TLS" if tls else "plain http",
                                                           "TLS" if other_tls else "plain http", other_where))
                elif proxy_protocol != other_pp:
                    findings.add("error", site.where.get("real_ip", "real_ip"), "proxy_protocol must be the same "
                                 "for every site on port %d (nginx expects the PROXY header on the port, not per "
                                 "site): %s differs" % (key[2], other_where))
                elif site.default and other_site.default:
                    findings.add("error", site.where.get("default", "default"), "only one default site per listen: "
                                 "%s is the default of port %d too" % (other_where, key[2]))
                else:
                    clash = set(site.server_names) & set(other_site.server_names)
                    if clash:
                        findings.add("error", site.where.get("server_names", "server_names"), "%s also in %s on "
                                     "port %d (nginx would ignore one)" % (", ".join(sorted(clash)),
                                                                           other_site.where.get("server_names"),
                                                                           key[2]))
            sockets.setdefault(key[2], []).append((where, key, tls, proxy_protocol, site))
    zones = {rate_limit_zone(site, index) for site in model.sites for index, location in enumerate(site.locations)
             if location.rate_limit is not None}
    for upstream in model.upstreams:
        if upstream.name in zones:
            findings.add("error", _field(upstream, "name", upstream.name), "%r is the name of a rate limit zone the "
                         "role declares: choose another name" % upstream.name)
