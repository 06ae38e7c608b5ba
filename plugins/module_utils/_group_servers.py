# -*- coding: utf-8 -*-
# Copyright: edgeops engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Upstream servers from an inventory group: every host of the group gives
`address:port` for each of its own app server ports, at the address the load
balancer reaches it on, with its own weight."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Optional

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._syntax import parse_port

DEFAULT_PORTS = (7001, 7002, 7003)


@dataclass
class AppHost:
    """What the inventory says about one app host."""
    name: str
    ports: list = field(default_factory=lambda: list(DEFAULT_PORTS))
    bind_address: str = "127.0.0.1"
    ansible_host: Optional[str] = None
    default_ipv4: Optional[str] = None
    weight: int = 1


def _kind(address):
    try:
        ip = ipaddress.ip_address(str(address))
    except ValueError:
        return "name"
    if ip.is_loopback:
        return "loopback"
    if ip.is_unspecified:
        return "any"
    return "routable"


def reachable_address(host, lb_host):
    """The address `lb_host` reaches `host`'s app servers on; ValueError if none."""
    kind = _kind(host.bind_address)
    if kind in ("routable", "name"):
        return host.bind_address
    if host.name == lb_host:
        return "127.0.0.1"
    if kind == "loopback":
        raise ValueError("host %s binds its app servers to %s, which %s cannot reach; set app_servers_bind_address "
                         "to a routable address or 0.0.0.0" % (host.name, host.bind_address, lb_host))
    for candidate in (host.ansible_host, host.default_ipv4):
        if candidate and _kind(candidate) != "loopback":
            return candidate
    return host.name


def _ports(host):
    ports = host.ports if isinstance(host.ports, (list, tuple)) else [host.ports]
    try:
        return [parse_port(port) for port in ports]
    except ValueError as exc:
        raise ValueError("host %s: app_servers_ports: %s" % (host.name, exc)) from None


def _weight(host):
    text = str(host.weight)
    if isinstance(host.weight, bool) or not re.match(r"\A[0-9]{1,4}\Z", text) or not 1 <= int(text) <= 1000:
        raise ValueError("host %s: app_servers_weight must be an integer 1-1000, got %r" % (host.name, host.weight))
    return int(text)


def _format(address, port):
    return "[%s]:%d" % (address, port) if ":" in address else "%s:%d" % (address, port)


def expand_groups(upstreams, groups, app_host, lb_host, upstreams_var="load_balancer_upstreams"):
    """Copies of `upstreams` whose `group` is replaced by servers.

    `groups` maps group name -> host names; `app_host(name)` returns an AppHost.
    Returns (upstreams, errors) with errors as 'field: message'.
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
            host = app_host(name)
            try:
                address = reachable_address(host, lb_host)
                ports, weight = _ports(host), _weight(host)
            except ValueError as exc:
                errors.append("%s: %s" % (where, exc))
                continue
            servers.extend({"address": _format(address, port), "weight": weight} for port in ports)
        upstream["servers"] = servers
        expanded.append(upstream)
    return expanded, errors
