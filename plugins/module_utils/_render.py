# -*- coding: utf-8 -*-
# Copyright: edgeops engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The model (``_model``) in nginx's words: the arguments of each directive,
already quoted, that the role's templates only join, and the plain data of
``model_to_dict`` that templates and module results carry.

``_model`` holds the data; this file is the one place that decides how a
field is written into a config.
"""

from __future__ import annotations

import ipaddress
from dataclasses import asdict

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._features import has, parse_version
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model import listen_parts, plain_dns_names
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._syntax import parse_address, quote

# The access log formats a site may name (log_format), and their nginx names.
LOG_FORMATS = {"combined": "edgeops_lb", "json": "edgeops_lb_json"}
# limit_req zones: 64 bytes a client address, so 4m keeps about 65,000 clients.
RATE_LIMIT_ZONE_SIZE = "4m"
# The default server for names no site has: a closed connection over http,
# 421 Misdirected Request over TLS (with a certificate of its own).
CATCH_ALL_PLAIN = "444"
CATCH_ALL_TLS = "421"


def server_args(server):
    """Arguments of the nginx `server` directive of `server` (a Server)."""
    args = [server.address]
    if server.weight != 1:
        args.append("weight=%d" % server.weight)
    if server.max_fails is not None:
        args.append("max_fails=%d" % server.max_fails)
    if server.fail_timeout is not None:
        args.append("fail_timeout=%s" % server.fail_timeout)
    if server.max_conns is not None:
        args.append("max_conns=%d" % server.max_conns)
    if server.backup:
        args.append("backup")
    if server.down:
        args.append("down")
    elif server.drain:
        args.append("drain")
    if server.resolve:
        args.append("resolve")
    return args


def resolver_args(resolver):
    """Arguments of the upstream's `resolver` directive (None without one)."""
    if resolver is None:
        return None
    args = list(resolver.addresses)
    if resolver.valid is not None:
        args.append("valid=%s" % resolver.valid)
    if not resolver.ipv6:
        args.append("ipv6=off")
    return args


def sticky_args(upstream):
    """The `sticky cookie ...` directive of `upstream` (name first), None without sticky."""
    sticky = upstream.sticky
    if sticky is None:
        return None
    args = ["sticky", "cookie", sticky.cookie]
    if sticky.expires is not None:
        args.append("expires=" + sticky.expires)
    if sticky.path is not None:
        args.append("path=" + sticky.path)
    if sticky.httponly:
        args.append("httponly")
    if sticky.secure:
        args.append("secure")
    if sticky.samesite is not None:
        args.append("samesite=" + sticky.samesite)
    return args


def keepalive_args(upstream, nginx_version):
    """The upstream's `keepalive` (name first), None for none. From nginx
    1.29.7 an upstream without one keeps 32 idle connections per location:
    `keepalive 0` keeps the model's "no keepalive" on every version."""
    if upstream.keepalive:
        return ["keepalive", str(upstream.keepalive)]
    if _known_has("keepalive_default", nginx_version):
        return ["keepalive", "0"]
    return None


def _known_has(feature, nginx_version):
    """Whether the host's nginx is known to have `feature`. An unknown version
    renders what every version reads (the listen form of http2, the explicit
    proxy_http_version 1.1)."""
    return parse_version(nginx_version) is not None and has(feature, nginx_version)


def method_args(upstream):
    """The balancing directive of `upstream` (name first), None for round robin."""
    if upstream.method == "round_robin":
        return None
    if upstream.method == "hash":
        return ["hash", upstream.hash_key] + (["consistent"] if upstream.consistent else [])
    if upstream.method == "random":
        return ["random"] + (["two"] if upstream.two else [])
    return [upstream.method]


def rate_limit_zone(site, index):
    """The limit_req zone of a site's location: named by the model, never by input."""
    return "edgeops_rl_%s_%d" % (site.name, index)


def _site_to_dict(site, tls_dir=None, nginx_version=None):
    """The server block's directives, every argument already in nginx's words
    (quoted where needed), so the template only joins them."""
    access_log = [site.access_log, LOG_FORMATS.get(site.log_format, "edgeops_lb")]
    if site.access_log == "off":
        access_log = ["off"]
    elif site.access_log_buffer:
        access_log += ["buffer=" + site.access_log_buffer, "flush=1s"]
    extra = " proxy_protocol" if site.real_ip is not None and site.real_ip.proxy_protocol else ""
    default = " default_server" if site.default else ""
    words = {
        "name": site.name,
        "listen": site.listen,
        "listens": [listen + default + extra for listen in site.all_listens],
        "server_name": " ".join(quote(name) for name in site.server_names),
        "server_tokens": "on" if site.server_tokens else "off",
        "access_log": " ".join(access_log),
        "proxy_set_headers": [[name, quote(value)] for name, value in site.proxy_set_headers],
        "proxy_connect_timeout": site.proxy_connect_timeout,
        "proxy_read_timeout": site.proxy_read_timeout,
        "proxy_next_upstream": " ".join(site.proxy_next_upstream),
        "expose_upstream_addr": site.expose_upstream_addr,
        "extra_directives": [" ".join([d[0]] + [quote(arg) for arg in d[1:]]) for d in site.extra_directives],
        "real_ip": _real_ip_words(site.real_ip),
        "verify_url": site.verify_url(),
        "verify_host": (plain_dns_names(site.server_names) or [None])[0] if site.name else None,
        "tls": _tls_words(site, default + extra, tls_dir, nginx_version),
        # HTTP/1.1 and an empty Connection header to the backends: nginx's
        # defaults from 1.29.7, written before it.
        "proxy_keepalive_headers": not _known_has("keepalive_default", nginx_version),
    }
    if site.name is not None:
        words["locations"] = [_location_words(site, index, location) for index, location in enumerate(site.locations)]
        words["has_root"] = any(location.path == "/" for location in site.locations)
        # A client on the LB host speaks no PROXY protocol: such a site is verified by its clients.
        words["verify_locations"] = [] if words["real_ip"] and words["real_ip"]["header"] == "proxy_protocol" else [
            {"path": location.path, "upstream": location.upstream} for location in site.locations
            if _verifiable(location)]
    return words


def _verifiable(location):
    """lb_verify counts a proxied location only where its many requests from
    the LB host are plain requests that may all pass (no limit, no upgrade,
    loopback allowed)."""
    return (location.kind == "proxy" and not location.websocket and location.rate_limit is None
            and (not location.allow or any(_network_has_loopback(network) for network in location.allow)))


def _network_has_loopback(network):
    try:
        return ipaddress.ip_network(network, strict=False).overlaps(ipaddress.ip_network("127.0.0.0/8"))
    except ValueError:
        return False


def _real_ip_words(real_ip):
    if real_ip is None:
        return None
    return {"from": list(real_ip.networks),
            "header": "proxy_protocol" if real_ip.proxy_protocol else real_ip.header}


def _location_words(site, index, location):
    """A location's own words: its directives (in both blocks of a stripped
    prefix), its proxy headers when it sets any (nginx then drops every
    proxy_set_header of the server block: they are repeated here)."""
    directives = []
    if location.buffering is not None:
        directives.append("proxy_buffering " + ("on" if location.buffering else "off"))
    if location.client_max_body_size is not None:
        directives.append("client_max_body_size " + location.client_max_body_size)
    if location.proxy_read_timeout is not None:
        directives.append("proxy_read_timeout " + location.proxy_read_timeout)
    if location.allow:
        directives.extend("allow " + network for network in location.allow)
        directives.append("deny all")
    if location.rate_limit is not None:
        burst = " burst=%d" % location.rate_limit.burst if location.rate_limit.burst else ""
        directives.append("limit_req zone=%s%s nodelay" % (rate_limit_zone(site, index), burst))
        directives.append("limit_req_status 429")
    headers = None
    if location.websocket or location.headers:
        own = dict((name.lower(), [name, value]) for name, value in location.headers)
        headers = [["Connection", "$edgeops_connection_upgrade" if location.websocket else ""]]
        if location.websocket:
            headers.append(["Upgrade", "$http_upgrade"])
        headers += [own.pop(name.lower(), [name, value]) for name, value in site.proxy_set_headers]
        headers = [[name, quote(value)] for name, value in headers + list(own.values())]
    words = {"path": location.path, "kind": location.kind, "strip_prefix": location.strip_prefix,
             "upstream": location.upstream, "directives": directives, "proxy_set_headers": headers,
             "websocket": location.websocket}
    if location.kind == "redirect":
        words["return"] = "%d %s" % (location.redirect_code, quote(location.redirect_to))
    elif location.kind == "return":
        words["return"] = "%d%s" % (location.return_code, (" " + quote(location.return_body))
                                    if location.return_body is not None else "")
    return words


def _tls_words(site, listen_extra="", tls_dir=None, nginx_version=None):
    """TLS words of the template (None when off): the listens of the https
    server on the plain listens' addresses, the redirect target, HSTS, and
    (load_balancer_sites) the site's own key and certificate files. HTTP/2 is
    `http2 on;` from nginx 1.25.1, a listen parameter before (and when the
    version is unknown: every version reads it)."""
    tls = site.tls
    if tls is None or not tls.on:
        return None
    listens = []
    for listen in site.all_listens:
        host, dummy = listen_parts(listen)
        listens.append(("%s:%d" % (host, tls.port) if host else str(tls.port)) + listen_extra)
    return {
        "mode": tls.mode,
        "port": tls.port,
        "listen": listens[0],
        "listens": listens,
        "redirect": tls.redirect,
        "http2": tls.http2,
        "http2_listen": http2_words(tls.http2, nginx_version)[0],
        "http2_directive": http2_words(tls.http2, nginx_version)[1],
        "hsts": "max-age=31536000" if tls.hsts else None,
        # The self-signed certificate's names: the domains, else the server names that are plain DNS names.
        "domains": list(tls.domains) or plain_dns_names(site.server_names),
        "redirect_target": "https://$host$request_uri" if tls.port == 443
        else "https://$host:%d$request_uri" % tls.port,
        # HTTP-01 challenges are served from the plain HTTP server, never redirected.
        "acme": tls.mode == "acme",
        "acme_directory": tls.acme_directory,
        "acme_email": tls.acme_email,
        "acme_ca_file": tls.acme_ca_file,
        "renew_days": tls.renew_days,
        # Each site its own pair (chosen by SNI); None: the role's one pair.
        **_pair_paths(tls_dir if site.name else None, "site_%s" % site.name),
        "cert": tls.cert,
        "key": tls.key,
    }


def http2_words(http2, nginx_version):
    """(listen parameter, directive) of HTTP/2 for the host's nginx: ' http2'
    after `ssl` before 1.25.1 (or unknown), `http2 on;` from it."""
    if not http2:
        return "", False
    if _known_has("http2_directive", nginx_version):
        return "", True
    return " http2", False


def _pair_paths(tls_dir, stem):
    """The key and certificate files of `stem` in `tls_dir` (None without one)."""
    return {"cert_path": "%s/%s.crt" % (tls_dir, stem) if tls_dir else None,
            "key_path": "%s/%s.key" % (tls_dir, stem) if tls_dir else None}


def _listen_key(listen):
    """(host or None for a wildcard, port) of a listen."""
    host, port = listen_parts(listen)
    return (None if host in (None, "0.0.0.0", "*") else host), port


def _acme_certificates(model, tls_dir):
    """The certificates to order from ACME servers, each with the file stem of
    its key, chain and CA; the single-site one keeps the role's paths (None)."""
    certificates = []
    for site in ([model.site] if model.site is not None else model.sites):
        if site.tls is None or site.tls.mode != "acme":
            continue
        words = _tls_words(site, tls_dir=tls_dir)
        certificates.append({
            "name": site.name or "", "stem": "acme_site_%s" % site.name if site.name else "acme",
            "domains": words["domains"], "cert_path": words["cert_path"], "key_path": words["key_path"],
            "acme_directory": site.tls.acme_directory, "acme_email": site.tls.acme_email,
            "acme_ca_file": site.tls.acme_ca_file, "renew_days": site.tls.renew_days})
    return certificates


def _http_words(model, tls_dir=None):
    """What the http context needs once for all sites: the JSON log format,
    the Upgrade map, the limit_req zones, and the catch-all default server on
    every listen that no site is the default of."""
    sites = model.sites
    words = {
        "json_log": any(site.log_format == "json" for site in sites),
        "websocket_map": any(location.websocket for site in sites for location in site.locations),
        "limit_req_zones": ["$binary_remote_addr zone=%s:%s rate=%s" % (rate_limit_zone(site, index),
                                                                        RATE_LIMIT_ZONE_SIZE, location.rate_limit.rate)
                            for site in sites for index, location in enumerate(site.locations)
                            if location.rate_limit is not None],
        "catch_all": None,
        "tls_pairs": [],
        "acme_certificates": _acme_certificates(model, tls_dir),
    }
    if not sites:
        return words
    plain, secure, http2, pairs = {}, {}, False, []
    for site in sites:
        extra = " proxy_protocol" if site.real_ip is not None and site.real_ip.proxy_protocol else ""
        # Plain http on every listen: the site itself, or its redirect to https.
        for listen in site.all_listens:
            plain.setdefault(_listen_key(listen), [listen + extra, False])[1] |= site.default
        tls = _tls_words(site, extra, tls_dir, model.nginx_version)
        if tls is None:
            continue
        for listen in tls["listens"]:
            secure.setdefault(_listen_key(listen.split()[0]), [listen, False])[1] |= site.default
        http2 = http2 or tls["http2"]
        # The self-signed pairs to generate: each selfsigned site's, and each
        # acme site's placeholder until its first issuance.
        if tls["mode"] in ("selfsigned", "acme"):
            pairs.append({"name": site.name, "names": tls["domains"] or ["localhost"], "cert_path": tls["cert_path"],
                          "key_path": tls["key_path"]})
    catch_all_pair = _pair_paths(tls_dir, "catch_all")
    if any(not taken for dummy, taken in secure.values()):
        pairs.append(dict(catch_all_pair, name="catch_all", names=["invalid"]))
    words["tls_pairs"] = pairs
    words["catch_all"] = {
        "listens": [listen + " default_server" for listen, taken in plain.values() if not taken],
        "tls_listens": [listen + " default_server" for listen, taken in secure.values() if not taken],
        "http2": http2,
        "http2_listen": http2_words(http2, model.nginx_version)[0],
        "http2_directive": http2_words(http2, model.nginx_version)[1],
        "cert_path": catch_all_pair["cert_path"],
        "key_path": catch_all_pair["key_path"],
        "plain_status": CATCH_ALL_PLAIN,
        "tls_status": CATCH_ALL_TLS,
    }
    return words


def _upstream_to_dict(upstream_data, upstream, nginx_version=None):
    upstream_data.pop("where")
    upstream_data["method_args"] = method_args(upstream)
    upstream_data["sticky_args"] = sticky_args(upstream)
    if upstream_data["sticky"] is not None:
        upstream_data["sticky"].pop("where")
    upstream_data["keepalive_args"] = keepalive_args(upstream, nginx_version)
    # `resolver` and `resolver_timeout` in the upstream block (its resolve servers).
    upstream_data.pop("resolver")
    upstream_data["resolver_args"] = resolver_args(upstream.resolver)
    upstream_data["resolver_timeout"] = upstream.resolver.timeout if upstream.resolver is not None else None
    for server_data, server in zip(upstream_data["servers"], upstream.servers):
        server_data.pop("where")
        try:
            server_data["host"], server_data["port"] = parse_address(server.address)
        except ValueError:  # a hand-written config's unix: socket or bare name
            server_data["host"], server_data["port"] = None, None
        server_data["directive_args"] = server_args(server)


def _stream_to_dict(stream_data, stream):
    """A stream's words for the template: the listen line (`udp` added) and
    UDP's one answer per datagram."""
    stream_data.pop("where")
    if stream.upstream is not None:
        _upstream_to_dict(stream_data["upstream"], stream.upstream)
    stream_data["listen_args"] = stream.listen + (" udp" if stream.protocol == "udp" else "")
    stream_data["proxy_responses"] = 1 if stream.protocol == "udp" else None
    stream_data["verify_address"] = stream.verify_address()
    stream_data["access_log_args"] = "off" if stream.access_log == "off" else stream.access_log + " edgeops_stream"


def model_to_dict(model):
    """Plain data for templates and module results (no derived fields lost).

    Built from variables, ``sites`` lists every server block's words (the
    one of the single-site variables, or each of load_balancer_sites) and
    ``http`` what the http context needs once."""
    tls_dir = model.tls_dir
    data = asdict(model)
    data.pop("origin")
    data.pop("tls_dir")
    data.pop("nginx_version")
    data.pop("nginx_candidate")
    data.pop("resolver")
    for upstream_data, upstream in zip(data["upstreams"], model.upstreams):
        _upstream_to_dict(upstream_data, upstream, model.nginx_version)
    for stream_data, stream in zip(data["streams"], model.streams):
        _stream_to_dict(stream_data, stream)
    for location_data in data["locations"]:
        location_data.pop("where")
        location_data.pop("server_block")
    if model.origin == "vars":
        if model.site is not None:
            data["site"] = _site_to_dict(model.site, nginx_version=model.nginx_version)
            site_words = dict(data["site"], locations=[_location_words(model.site, index, location) for index, location
                                                       in enumerate(model.locations)])
            site_words["has_root"] = any(location.path == "/" for location in model.locations)
            data["sites"] = [site_words]
        else:
            data["sites"] = [_site_to_dict(site, tls_dir, model.nginx_version) for site in model.sites]
        data["http"] = _http_words(model, tls_dir)
    elif data["site"] is not None:
        data["site"].pop("where")
    if model.origin != "vars":
        data.pop("sites")
    return data
