# -*- coding: utf-8 -*-
# Copyright: edgeops engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one value through which the two roles meet.

The app_servers role publishes, per host, ``app_servers_endpoints``: one entry
per instance, ``{address, local_address, weight}`` — the address other hosts
reach it on (None when it listens on loopback only), the address a client on
the same host uses (None when it does not listen on loopback), its weight.
The load balancer turns an upstream's ``group`` into servers from those
entries alone; it knows nothing else of the app_servers role.
"""

from __future__ import annotations

import ipaddress

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._constants import WEIGHT_RANGE
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._convert import to_int
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._syntax import format_address, parse_host, parse_port

PUBLISHED = "app_servers_endpoints"


def _kind(address):
    if str(address).lower() == "localhost":
        return "loopback"
    try:
        ip = ipaddress.ip_address(str(address))
    except ValueError:
        return "name"
    if ip.is_loopback:
        return "loopback"
    if ip.is_unspecified:
        return "any"
    return "routable"


def _host_part(address):
    """An address as the host part of host:port (IPv6 bracketed)."""
    return parse_host("[%s]" % address if ":" in address else address)


def endpoints(ports, bind_address, weight, ansible_host=None, default_ipv4=None, inventory_hostname=None,
              tcp_ports=(), udp_ports=()):
    """What a host's app servers offer the load balancer; ValueError naming the app_servers_* variable.
    HTTP entries carry no protocol; those of `tcp_ports` and `udp_ports` say `protocol: tcp|udp`."""
    if not isinstance(ports, (list, tuple)) or not ports:
        raise ValueError("app_servers_ports: must be a non-empty list of ports, got %r" % (ports,))
    try:
        ports = [parse_port(port) for port in ports]
    except ValueError as exc:
        raise ValueError("app_servers_ports: %s" % exc) from None
    errors = []
    weight = to_int(weight, "app_servers_weight", errors, WEIGHT_RANGE)
    if errors:
        raise ValueError(errors[0])
    bind = str(bind_address)
    kind = _kind(bind)
    try:
        if kind in ("routable", "name"):
            remote = _host_part(bind)
        elif kind == "any":
            candidates = [c for c in (ansible_host, default_ipv4) if c and _kind(c) not in ("loopback", "any")]
            remote = _host_part(str(candidates[0] if candidates else inventory_hostname))
        else:
            remote = None
    except ValueError as exc:
        raise ValueError("app_servers_bind_address: %s" % exc) from None
    # A client on the host itself: the loopback address it listens on.
    if kind == "loopback":
        local = "127.0.0.1" if bind.lower() == "localhost" else _host_part(bind)
    elif kind == "any":
        local = "[::1]" if ":" in bind else "127.0.0.1"
    else:
        local = None
    published = [{"address": format_address(remote, port) if remote else None,
                  "local_address": format_address(local, port) if local else None,
                  "weight": weight} for port in ports]
    for protocol, stream_ports in (("tcp", tcp_ports), ("udp", udp_ports)):
        for port in _stream_ports(stream_ports, "app_servers_%s_ports" % protocol):
            published.append({"address": format_address(remote, port) if remote else None,
                              "local_address": format_address(local, port) if local else None,
                              "weight": weight, "protocol": protocol})
    return published


def _stream_ports(ports, var):
    """A list of TCP or UDP ports (maybe empty); ValueError naming `var`."""
    if ports is None:
        return []
    if not isinstance(ports, (list, tuple)):
        raise ValueError("%s: must be a list of ports, got %r" % (var, ports))
    try:
        return [parse_port(port) for port in ports]
    except ValueError as exc:
        raise ValueError("%s: %s" % (var, exc)) from None


def servers_of(name, published, lb_host, protocol="http"):
    """The upstream servers `lb_host` reaches on host `name` for `protocol`
    (http, tcp or udp; an entry without one is http); ValueError if none."""
    if not isinstance(published, list) or not published:
        raise ValueError("host %s has published no %s: run the edgeops.nginx_lb.app_servers role on it first"
                         % (name, PUBLISHED))
    published = [endpoint for endpoint in published
                 if isinstance(endpoint, dict) and endpoint.get("protocol", "http") == protocol]
    if not published:
        raise ValueError("host %s has published no %s endpoint in %s (%s)" % (
            name, protocol, PUBLISHED, "app_servers_ports" if protocol == "http" else "app_servers_%s_ports" % protocol))
    servers = []
    for endpoint in published:
        address = endpoint.get("local_address") if name == lb_host else None
        address = address or endpoint.get("address")
        if not address:
            raise ValueError("host %s binds its app servers to %s, which %s cannot reach; set app_servers_bind_address "
                             "to a routable address or 0.0.0.0" % (name, endpoint.get("local_address"), lb_host))
        servers.append({"address": address, "weight": endpoint.get("weight", 1)})
    return servers


def expand_groups(upstreams, groups, published_by_host, lb_host, upstreams_var="load_balancer_upstreams",
                  streams=False):
    """Copies of `upstreams` whose `group` is replaced by servers (with
    `streams`, entries of load_balancer_streams: the endpoints of their protocol).

    `groups` maps group name -> host names; `published_by_host(name)` returns
    that host's app_servers_endpoints (or None). Returns (upstreams, errors)
    with errors as 'field: message'.
    """
    expanded, errors = [], []
    for index, upstream in enumerate(upstreams if isinstance(upstreams, list) else []):
        if not isinstance(upstream, dict) or upstream.get("group") is None:
            expanded.append(upstream)
            continue
        where = "%s[%d].group" % (upstreams_var, index)
        upstream = dict(upstream)
        group = upstream.pop("group")
        servers = list(upstream.get("servers") or [])
        if group not in groups:
            errors.append("%s: no inventory group %r" % (where, group))
        elif not groups[group]:
            errors.append("%s: inventory group %r has no hosts" % (where, group))
        for name in groups.get(group, []):
            try:
                protocol = str(upstream.get("protocol") or "tcp") if streams else "http"
                servers.extend(servers_of(name, published_by_host(name), lb_host, protocol))
            except ValueError as exc:
                errors.append("%s: %s" % (where, exc))
        upstream["servers"] = servers
        expanded.append(upstream)
    return expanded, errors
