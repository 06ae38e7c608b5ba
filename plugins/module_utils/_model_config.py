# -*- coding: utf-8 -*-
# Copyright: edgeops engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A parsed nginx config -> the model (what nginx_validate and lb_verify
read from a live host, and what the tests read back from a rendered file)."""

from __future__ import annotations

import re

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._convert import TIME_RE
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model import (
    Location, Model, Resolver, Server, Site, Sticky, Stream, Upstream)
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._nginx_conf import walk


def _server_from_directive(directive):
    server = Server(address=directive.args[0] if directive.args else "")
    for arg in directive.args[1:]:
        key, dummy, value = arg.partition("=")
        if key in ("weight", "max_fails", "max_conns") and re.match(r"\A[0-9]{1,12}\Z", value):
            setattr(server, key, int(value))
        elif key == "fail_timeout":
            server.fail_timeout = value
        elif key in ("backup", "down", "drain", "resolve"):
            setattr(server, key, True)
    return server


def _sticky_from_directive(directive):
    """`sticky cookie NAME [expires=] [path=] [httponly] [secure] [samesite=]`;
    None for another kind (route, learn), which the model does not describe."""
    if len(directive.args) < 2 or directive.args[0] != "cookie":
        return None
    sticky = Sticky(cookie=directive.args[1])
    for arg in directive.args[2:]:
        key, dummy, value = arg.partition("=")
        if key in ("expires", "path", "samesite") and value:
            setattr(sticky, key, value)
        elif key in ("httponly", "secure") and not value:
            setattr(sticky, key, True)
    return sticky


def _resolver_from_directive(directive, upstream):
    """An upstream's `resolver ADDRESS... [valid=TIME] [ipv6=on|off]`."""
    resolver = Resolver(where="upstream %s resolver" % upstream.name)
    for arg in directive.args:
        key, equals, value = arg.partition("=")
        if equals and key == "valid":
            resolver.valid = value
        elif equals and key == "ipv6":
            resolver.ipv6 = value != "off"
        elif not equals:
            resolver.addresses.append(arg)
    return resolver


def _upstream_from_block(directive):
    upstream = Upstream(name=directive.args[0] if directive.args else "", file=directive.file, line=directive.line)
    timeout = None
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
        elif child.name == "keepalive" and child.args and re.match(r"\A[0-9]{1,12}\Z", child.args[0]):
            # `keepalive 0`: none (nginx >= 1.29.7 keeps 32 by default).
            upstream.keepalive = int(child.args[0]) or None
        elif child.name == "sticky":
            upstream.sticky = _sticky_from_directive(child)
        elif child.name == "zone":
            upstream.zone = child.args[1] if len(child.args) > 1 else "shared"
        elif child.name == "resolver":
            upstream.resolver = _resolver_from_directive(child, upstream)
        elif child.name == "resolver_timeout" and child.args:
            timeout = child.args[0]
    if upstream.resolver is not None and timeout is not None:
        upstream.resolver.timeout = timeout
    return upstream


def _split_proxy_pass(target):
    """'http://name/uri' -> ('name', '/uri' or None)."""
    rest = re.sub(r"\A[a-z]+://", "", target)
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


def _site_from_block(directive):
    site = Site(listen="", server_names=[])
    for child in directive.block or []:
        if child.name == "listen" and child.args and not site.listen:
            site.listen = child.args[0]
        elif child.name == "server_name":
            site.server_names.extend(child.args)
    return site


def _outside_streams(tree):
    """Every directive, depth first, except those inside a `stream` block."""
    for directive in tree:
        if directive.name == "stream" and directive.block is not None:
            continue
        yield directive
        if directive.block:
            yield from _outside_streams(directive.block)


def _stream_from_server(directive, upstreams):
    """A stream `server` block that proxies: its listen, protocol, upstream."""
    children = directive.block or []
    proxy_pass = next((d for d in children if d.name == "proxy_pass" and d.args), None)
    listen = next((d for d in children if d.name == "listen" and d.args), None)
    if proxy_pass is None or listen is None:
        return None
    stream = Stream(name=proxy_pass.args[0], listen=listen.args[0],
                    protocol="udp" if "udp" in listen.args[1:] else "tcp",
                    upstream=upstreams.get(proxy_pass.args[0]), file=directive.file, line=directive.line)
    for child in children:
        if child.name in ("proxy_timeout", "proxy_connect_timeout") and child.args and TIME_RE.match(child.args[0]):
            setattr(stream, child.name, child.args[0])
        elif child.name == "proxy_protocol" and child.args:
            stream.proxy_protocol = child.args[0] == "on"
        elif child.name == "access_log" and child.args:
            stream.access_log = child.args[0]
    return stream


def _streams(tree):
    """The streams of every `stream` block, in order."""
    streams = []
    for block in (d for d in walk(tree) if d.name == "stream" and d.block is not None):
        upstreams = {d.args[0]: _upstream_from_block(d) for d in walk(block.block)
                     if d.name == "upstream" and d.block is not None and d.args}
        for directive in walk(block.block):
            if directive.name == "server" and directive.block is not None:
                stream = _stream_from_server(directive, upstreams)
                if stream is not None:
                    streams.append(stream)
    return streams


def model_from_config(tree):
    """Read upstreams and proxied locations from a parsed config tree.

    Our own pair `location = /x` + `location /x/` becomes one Location `/x`,
    so a rendered model reads back equal to the model it was rendered from.
    The site is the first server block that proxies.
    """
    model = Model(origin="config")
    model.streams = _streams(tree)
    blocks = 0  # server blocks seen: two may start on one line
    for directive in _outside_streams(tree):
        if directive.name == "upstream" and directive.block is not None:
            model.upstreams.append(_upstream_from_block(directive))
        elif directive.name == "server" and directive.block is not None:
            blocks += 1
            raw = list(_raw_locations(directive))
            if raw and model.site is None:
                model.site = _site_from_block(directive)
            prefixes = {(loc.path, loc.upstream) for loc in raw if loc.modifier == ""}
            exacts = {(loc.path, loc.upstream) for loc in raw if loc.modifier == "="}
            for loc in raw:
                if loc.modifier == "=" and (loc.path + "/", loc.upstream) in prefixes:
                    continue  # folded into its prefix twin
                if loc.modifier == "" and len(loc.path) > 1 and loc.path.endswith("/") \
                        and (loc.path[:-1], loc.upstream) in exacts:
                    loc.path, loc.modifier = loc.path[:-1], None
                loc.server_block = "%s:%s #%d" % (directive.file, directive.line, blocks)
                model.locations.append(loc)
    return model
