# -*- coding: utf-8 -*-
# Copyright: edgeops engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A parsed nginx config -> the model (what nginx_validate and lb_verify
read from a live host, and what the tests read back from a rendered file)."""

from __future__ import annotations

import re

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model import Location, Model, Server, Site, Upstream
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._nginx_conf import walk


def _server_from_directive(directive):
    server = Server(address=directive.args[0] if directive.args else "")
    for arg in directive.args[1:]:
        key, dummy, value = arg.partition("=")
        if key in ("weight", "max_fails", "max_conns") and re.match(r"\A[0-9]{1,12}\Z", value):
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
        elif child.name == "keepalive" and child.args and re.match(r"\A[0-9]{1,12}\Z", child.args[0]):
            upstream.keepalive = int(child.args[0])
        elif child.name == "zone":
            upstream.zone = child.args[1] if len(child.args) > 1 else "shared"
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


def model_from_config(tree):
    """Read upstreams and proxied locations from a parsed config tree.

    Our own pair `location = /x` + `location /x/` becomes one Location `/x`,
    so a rendered model reads back equal to the model it was rendered from.
    The site is the first server block that proxies.
    """
    model = Model(origin="config")
    for directive in walk(tree):
        if directive.name == "upstream" and directive.block is not None:
            model.upstreams.append(_upstream_from_block(directive))
        elif directive.name == "server" and directive.block is not None:
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
                model.locations.append(loc)
    return model
