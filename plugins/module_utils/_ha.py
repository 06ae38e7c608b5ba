# -*- coding: utf-8 -*-
# Copyright: edgeops engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ha role's input -> the plan its templates render (keepalived.conf, the
nginx status server, the exporter's arguments).

Every value that reaches a file or a command line is checked here against an
anchored allow-list (\\A...\\Z) or parsed into a number or an IP address and
written back from that; every problem is collected and named by its variable
(`ha_vip: ...`), so the role fails before anything on the host changes.
"""

from __future__ import annotations

import ipaddress
import re

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._convert import to_bool, to_int
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model import ModelError
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._syntax import FILE_PATH_RE, check_location_path

# Linux interface names: at most 15 bytes (IFNAMSIZ - 1). Linux itself allows
# '$', '@', '#', '!', braces and quotes in them, which keepalived's config
# reader would substitute or cut, so a name from a host's facts is checked too.
# Not '-' first: the name is also an argument of `ip address del ... dev`.
INTERFACE_RE = re.compile(r"\A[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}\Z")
VIP_RE = re.compile(r"\A[0-9]{1,3}(?:\.[0-9]{1,3}){3}/[0-9]{1,2}\Z")
IPV4_RE = re.compile(r"\A[0-9]{1,3}(?:\.[0-9]{1,3}){3}\Z")
CIDR_RE = re.compile(r"\A[0-9]{1,3}(?:\.[0-9]{1,3}){3}(?:/[0-9]{1,2})?\Z")
LISTEN_RE = re.compile(r"\A(?P<host>[0-9]{1,3}(?:\.[0-9]{1,3}){3}):(?P<port>[0-9]{1,5})\Z")
# VRRP PASS authentication: 1-8 printable ASCII characters; none that
# keepalived's config reader treats specially anywhere in a word: space,
# quotes, backslash, the comment starters # and !, the braces, '$' (its
# $NAME, ${NAME} and builtin $_RANDOM, $_HASH, $_BANG, $_PWD... substitutions),
# '~' (~SEQ lines) and '@' (@config-id conditional lines). Every character
# left stays literal (tests/functional/test_ha_keepalived_conf.py).
AUTH_PASS_RE = re.compile(r"\A[A-Za-z0-9%&()*+,./:;<=>?\[\]^_`|-]{1,8}\Z")
HOST_RE = re.compile(r"\A[A-Za-z0-9_.-]{1,253}\Z")
# ha_advert_int: VRRPv2 whole seconds (1 or 1.0), VRRPv3 centiseconds (0.2, 0.05).
ADVERT_V2_RE = re.compile(r"\A[0-9]{1,3}(?:\.0{1,2})?\Z")
ADVERT_V3_RE = re.compile(r"\A[0-9]{1,2}(?:\.[0-9]{1,2})?\Z")

DEFAULT_TOP_PRIORITY = 200
PRIORITY_STEP = 10


class HaError(ModelError):
    """Invalid HA input; ``errors`` lists every problem as 'field: message'."""


def _int(value, field, low, high, errors):
    return to_int(value, field, errors, (low, high))


def _ipv4(text):
    """IPv4Address from dotted-quad ASCII only (no '0x', no fullwidth digits); ValueError otherwise."""
    if not isinstance(text, str) or not IPV4_RE.match(text):
        raise ValueError("not an IPv4 address: %r" % (text,))
    return ipaddress.IPv4Address(text)


def _vip(value, field, errors):
    if not isinstance(value, str) or not VIP_RE.match(value):
        errors.append("%s: must be an IPv4 address with a prefix length, like 192.0.2.10/24, got %r" % (field, value))
        return None
    try:
        return ipaddress.IPv4Interface(value)
    except ValueError as exc:
        errors.append("%s: %s" % (field, exc))
        return None


def host_networks(facts, secondaries=True):
    """[(interface, IPv4Interface)] of every IPv4 address in a host's facts (the
    primary one of each interface first), loopback excluded."""
    found = []
    for name in (facts or {}).get("interfaces", []) or []:
        data = (facts or {}).get(str(name).replace("-", "_")) or {}
        if not isinstance(data, dict):
            continue
        for entry in [data.get("ipv4")] + (list(data.get("ipv4_secondaries") or []) if secondaries else []):
            if not isinstance(entry, dict) or not entry.get("address") or not entry.get("netmask"):
                continue
            try:
                address = ipaddress.IPv4Interface("%s/%s" % (entry["address"], entry["netmask"]))
            except ValueError:
                continue
            if not address.ip.is_loopback:
                found.append((str(name), address))
    return found


def _describe(networks):
    return ", ".join("%s %s" % (name, address.network) for name, address in networks) or "none"


def _addresses(role_vars, errors):
    """[(vip_field, vrid_field, IPv4Interface, virtual_router_id, master)] of
    ha_vip or ha_vips, then ha_extra_instances. `master` is a host name given
    per address, an int (the address's place in ha_vips: its master is the
    host at that place mod N in priority order), or 0 for ha_vip and the
    extra instances (the highest priority host)."""
    single, many = role_vars.get("ha_vip"), role_vars.get("ha_vips")
    if many in (None, ""):
        many = []
    if not isinstance(many, list):
        errors.append("ha_vips: must be a list of addresses (192.0.2.10/24) or {vip, virtual_router_id, master}, "
                      "got %r" % (many,))
        many = None
    instances = []
    base = _int(role_vars.get("ha_virtual_router_id"), "ha_virtual_router_id", 1, 255, errors)
    if single not in (None, "") and many:
        errors.append("ha_vips: set either ha_vip (one address) or ha_vips (a list), not both; ha_vip is %r"
                      % (single,))
    elif single in (None, "") and many == []:
        errors.append("ha_vips: no floating address; set ha_vip (one address) or ha_vips (a list of them)")
    elif many == []:
        instances.append(("ha_vip", "ha_virtual_router_id", _vip(single, "ha_vip", errors), base, 0))
    for index, item in enumerate(many or []):
        where = "ha_vips[%d]" % index
        if isinstance(item, str):
            item = {"vip": item}
        if not isinstance(item, dict) or set(item) - {"vip", "virtual_router_id", "master"}:
            errors.append("%s: must be an address like 192.0.2.10/24 or a dict with vip, virtual_router_id and "
                          "master only, got %r" % (where, item))
            continue
        if item.get("virtual_router_id") is None:
            vrid = None if base is None else base + index
            if vrid is not None and vrid > 255:
                errors.append("%s.virtual_router_id: ha_virtual_router_id %d + %d is beyond 255; give each "
                              "address its virtual_router_id" % (where, base, index))
                vrid = None
        else:
            vrid = _int(item["virtual_router_id"], where + ".virtual_router_id", 1, 255, errors)
        master = item.get("master")
        if master is None:
            master = index
        elif not isinstance(master, str):
            errors.append("%s.master: must be the name of a host of the group, got %r" % (where, master))
            master = index
        instances.append((where + ".vip", where + ".virtual_router_id", _vip(item.get("vip"), where + ".vip", errors),
                          vrid, master))
    extra = role_vars.get("ha_extra_instances") or []
    if not isinstance(extra, list):
        errors.append("ha_extra_instances: must be a list of {vip, virtual_router_id}, got %r" % (extra,))
        extra = []
    for index, item in enumerate(extra):
        where = "ha_extra_instances[%d]" % index
        if not isinstance(item, dict) or set(item) - {"vip", "virtual_router_id"}:
            errors.append("%s: must be a dict with vip and virtual_router_id only, got %r" % (where, item))
            continue
        instances.append((where + ".vip", where + ".virtual_router_id",
                          _vip(item.get("vip"), where + ".vip", errors),
                          _int(item.get("virtual_router_id"), where + ".virtual_router_id", 1, 255, errors), 0))
    seen_vrid, seen_vip = {}, {}
    for vip_field, vrid_field, vip, vrid, dummy in instances:
        if vrid is not None:
            if vrid in seen_vrid:
                errors.append("%s: virtual router id %d is already used by %s; each VRRP instance needs its own"
                              % (vrid_field, vrid, seen_vrid[vrid]))
            seen_vrid.setdefault(vrid, vrid_field)
        if vip is not None:
            if vip.ip in seen_vip:
                errors.append("%s: %s is already the address of %s" % (vip_field, vip.ip, seen_vip[vip.ip]))
            seen_vip.setdefault(vip.ip, vip_field)
    return instances


def instance_priorities(priorities, master, field, errors):
    """{host: priority} of one address: its master gets the group's highest
    priority, the hosts after it (in priority order, wrapping round) the
    next ones. `master` is a host name or a place (taken mod N)."""
    order = sorted(priorities, key=lambda name: -priorities[name])
    if not order:
        return {}
    values = [priorities[name] for name in order]
    if isinstance(master, str):
        if master not in priorities:
            errors.append("%s.master: %s is not a host of the load balancers' group (%s)"
                          % (field, master, ", ".join(order)))
            return {}
        start = order.index(master)
    else:
        start = master % len(order)
    return {order[(start + step) % len(order)]: values[step] for step in range(len(order))}


def _priorities(role_vars, group_hosts, hostvars, errors):
    """{host: priority}: each host's ha_priority, or from its place in the group (200, 190, ...)."""
    priorities = {}
    for index, name in enumerate(group_hosts):
        given = (hostvars.get(name) or {}).get("ha_priority")
        if given is None:
            number = DEFAULT_TOP_PRIORITY - PRIORITY_STEP * index
            if number < 1:
                errors.append("ha_priority: no default for %s, host %d of the group; set ha_priority (1-254) "
                              "on each host" % (name, index + 1))
                continue
        else:
            number = _int(given, "ha_priority (host %s)" % name, 1, 254, errors)
            if number is None:
                continue
        priorities[name] = number
    by_priority = {}
    for name, number in priorities.items():
        by_priority.setdefault(number, []).append(name)
    for number, names in sorted(by_priority.items()):
        if len(names) > 1:
            errors.append("ha_priority: %s all have priority %d; each load balancer needs its own, or the "
                          "election falls to the highest address" % (", ".join(names), number))
    return priorities


def _status(role_vars, errors):
    address = role_vars.get("ha_status_address")
    try:
        _ipv4(address)
    except ValueError:
        errors.append("ha_status_address: must be an IPv4 address, got %r" % (address,))
    port = _int(role_vars.get("ha_status_port"), "ha_status_port", 1, 65535, errors)
    path = role_vars.get("ha_status_path")
    try:
        if not isinstance(path, str):
            raise ValueError("must be a path like /nginx_status, got %r" % (path,))
        check_location_path(path)
    except ValueError as exc:
        errors.append("ha_status_path: %s" % exc)
    allow = role_vars.get("ha_status_allow")
    if not isinstance(allow, list) or not allow:
        errors.append("ha_status_allow: must be a non-empty list of IPv4 addresses or networks, got %r" % (allow,))
        allow = []
    networks = []
    for index, item in enumerate(allow):
        try:
            if not isinstance(item, str) or not CIDR_RE.match(item):
                raise ValueError("not an IPv4 address or network")
            networks.append(str(ipaddress.IPv4Network(item, strict=True)) if "/" in item else str(_ipv4(item)))
        except ValueError as exc:
            errors.append("ha_status_allow[%d]: must be an IPv4 address or network, got %r (%s)" % (index, item, exc))
    url = "http://%s:%s%s" % (address, port, path)
    return {"address": address, "port": port, "path": path, "allow": networks, "listen": "%s:%s" % (address, port),
            "url": url}


def _check(role_vars, errors):
    return {
        "interval": _int(role_vars.get("ha_check_interval"), "ha_check_interval", 1, 3600, errors),
        "timeout": _int(role_vars.get("ha_check_timeout"), "ha_check_timeout", 1, 3600, errors),
        "fall": _int(role_vars.get("ha_check_fall"), "ha_check_fall", 1, 255, errors),
        "rise": _int(role_vars.get("ha_check_rise"), "ha_check_rise", 1, 255, errors),
    }


def _exporter(role_vars, errors):
    listen = role_vars.get("ha_exporter_listen")
    match = LISTEN_RE.match(listen) if isinstance(listen, str) else None
    if match is None:
        errors.append("ha_exporter_listen: must be IPv4-address:port, like 127.0.0.1:9113, got %r" % (listen,))
    else:
        try:
            _ipv4(match["host"])
        except ValueError:
            errors.append("ha_exporter_listen: %r is not an IPv4 address" % match["host"])
        _int(match["port"], "ha_exporter_listen (port)", 1, 65535, errors)
    return {"enabled": to_bool(role_vars.get("ha_exporter_enabled", False), "ha_exporter_enabled", errors), "listen": listen}


def _files(role_vars, errors):
    """The role's paths that keepalived.conf and the units name (the track
    script's interpreter and directory, the handover track file, ip)."""
    files = {}
    for name in ("ha_python", "ha_script_dir", "ha_handover_file", "ha_ip_command"):
        value = role_vars.get(name)
        if not isinstance(value, str) or not FILE_PATH_RE.match(value):
            errors.append("%s: must be an absolute path of A-Z a-z 0-9 . _ / -, got %r" % (name, value))
        files[name[len("ha_"):]] = value
    return files


def _flag(role_vars, name, errors):
    return to_bool(role_vars.get(name), name, errors)


def advert_interval(value, version, errors):
    """Seconds between adverts: VRRPv2 whole seconds 1-255; VRRPv3
    centiseconds, 0.01-40.95 (RFC 5798's 12-bit field). A float, or 1.0 and
    an error naming ha_advert_int."""
    text = str(value).strip() if isinstance(value, (int, float, str)) and not isinstance(value, bool) else ""
    if version == 3:
        match = ADVERT_V3_RE.match(text)
        number = float(text) if match else 0.0
        if not match or not 0.01 <= number <= 40.95:
            errors.append("ha_advert_int: with ha_vrrp_version 3 must be 0.01-40.95 seconds in steps of 0.01, "
                          "got %r" % (value,))
            return 1.0
        return number
    match = ADVERT_V2_RE.match(text)
    if not match or not 1 <= int(float(text)) <= 255:
        hint = "; intervals below a second need ha_vrrp_version: 3" if match is None and ADVERT_V3_RE.match(text) else ""
        errors.append("ha_advert_int: must be whole seconds 1-255, got %r%s" % (value, hint))
        return 1.0
    return float(int(float(text)))


def _garp(role_vars, errors):
    """Gratuitous ARPs of a new master: a burst at once, another burst
    `delay` seconds later, and every `refresh` seconds while it holds the
    address (0: never)."""
    return {
        "delay": _int(role_vars.get("ha_garp_master_delay", 1), "ha_garp_master_delay", 0, 255, errors),
        "repeat": _int(role_vars.get("ha_garp_master_repeat", 5), "ha_garp_master_repeat", 1, 255, errors),
        "refresh": _int(role_vars.get("ha_garp_master_refresh", 0), "ha_garp_master_refresh", 0, 3600, errors),
        "rt_priority": _int(role_vars.get("ha_vrrp_rt_priority", 0), "ha_vrrp_rt_priority", 0, 99, errors),
    }


def _quiet(role_vars, errors):
    """The nftables rule that drops (instead of refusing) a connection to a
    floating address on a serving port no process listens on."""
    enabled = to_bool(role_vars.get("ha_quiet_refusals", True), "ha_quiet_refusals", errors)
    ports = role_vars.get("ha_quiet_refusal_ports", [80, 443])
    if not isinstance(ports, list) or (enabled and not ports):
        errors.append("ha_quiet_refusal_ports: must be a non-empty list of TCP ports, got %r" % (ports,))
        ports = []
    numbers = [_int(port, "ha_quiet_refusal_ports[%d]" % index, 1, 65535, errors) for index, port in enumerate(ports)]
    return {"enabled": enabled, "ports": sorted({number for number in numbers if number is not None})}


def ha_plan(role_vars, host, group, group_hosts, hostvars):
    """The plan for `host`, one of `group_hosts` (the hosts of the inventory
    group `group`); `hostvars` gives every host's ha_priority and facts.
    Raises HaError naming every wrong field."""
    errors = []
    hostvars = hostvars or {}
    group_hosts = list(group_hosts or [])
    if host not in group_hosts:
        errors.append("ha_lb_group: %s is not a host of group %r" % (host, group))
    if len(group_hosts) < 2:
        errors.append("ha_lb_group: group %r has %d host(s) (%s); a floating address needs at least two load "
                      "balancers" % (group, len(group_hosts), ", ".join(group_hosts) or "none"))
    for name in group_hosts:
        if not isinstance(name, str) or not HOST_RE.match(name):
            errors.append("ha_lb_group: host name %r cannot be written into keepalived.conf" % (name,))
    instances = _addresses(role_vars, errors)
    priorities = _priorities(role_vars, group_hosts, hostvars, errors)
    version = _int(role_vars.get("ha_vrrp_version", 2), "ha_vrrp_version", 2, 3, errors)
    advert_int = advert_interval(role_vars.get("ha_advert_int"), version, errors)
    down_timer_adverts = _int(role_vars.get("ha_down_timer_adverts"), "ha_down_timer_adverts", 1, 100, errors)
    nopreempt = _flag(role_vars, "ha_nopreempt", errors)
    unicast = _flag(role_vars, "ha_unicast", errors)
    auth_pass = role_vars.get("ha_auth_pass")
    if auth_pass is None or auth_pass == "":
        auth_pass = ""
    elif not isinstance(auth_pass, str) or not AUTH_PASS_RE.match(auth_pass):
        errors.append("ha_auth_pass: must be 1-8 printable ASCII characters without space, quotes, backslash, "
                      "# ! { } $ ~ @ (VRRP PASS authentication; keepalived would substitute or cut them), got %d "
                      "characters" % len(str(auth_pass)))
    if auth_pass and version == 3:
        errors.append("ha_auth_pass: VRRPv3 has no authentication (RFC 5798; keepalived ignores it); leave it "
                      "empty with ha_vrrp_version 3")
    interface = role_vars.get("ha_interface") or ""
    if interface and (not isinstance(interface, str) or not INTERFACE_RE.match(interface)):
        errors.append("ha_interface: must be an interface name (1-15 of A-Z a-z 0-9 _ . -, not - first), got %r" % (interface,))
        interface = ""
    # A floating address held right now is a secondary address of its
    # interface: never an interface's own address, never a peer's.
    floating = {vip.ip for dummy, dummy, vip, dummy, dummy in instances if vip is not None}
    own = [(name, address) for name, address in host_networks((hostvars.get(host) or {}).get("ansible_facts"))
           if address.ip not in floating]
    planned = []
    for vip_field, vrid_field, vip, vrid, master in instances:
        if vip is None:
            continue
        by_host = instance_priorities(priorities, master, vip_field.rsplit(".", 1)[0], errors)
        holders = [(name, address) for name, address in own if vip.ip in address.network]
        if interface:
            on_interface = [(name, address) for name, address in own if name == interface]
            holders = [(name, address) for name, address in holders if name == interface]
            if not holders:
                errors.append("%s: %s is outside the network of ha_interface %s on %s (%s)"
                              % (vip_field, vip, interface, host, _describe(on_interface)))
                continue
        elif not holders:
            errors.append("%s: %s is outside every network of %s's interfaces (%s); give an address in one of "
                          "them, or set ha_interface" % (vip_field, vip, host, _describe(own)))
            continue
        name, address = holders[0]
        if not INTERFACE_RE.match(name):
            errors.append("%s: interface %r of %s (from its facts), the one in %s, cannot be written into "
                          "keepalived.conf: an interface name there must be 1-15 of A-Z a-z 0-9 _ . -, not - first"
                          % (vip_field, name, host, address.network))
            continue
        if vip.ip in (address.network.network_address, address.network.broadcast_address):
            errors.append("%s: %s is the network or broadcast address of %s" % (vip_field, vip.ip, address.network))
        peers = []
        for other in group_hosts:
            other_facts = (hostvars.get(other) or {}).get("ansible_facts")
            # Primary addresses only: a secondary one equal to it is the floating address, held.
            if any(a.ip == vip.ip for dummy, a in host_networks(other_facts, secondaries=False)):
                errors.append("%s: %s is already an address of %s; the floating address must be free"
                              % (vip_field, vip.ip, other))
                continue
            networks = [(name, a) for name, a in host_networks(other_facts) if a.ip not in floating]
            if not networks and other != host:
                if unicast:
                    errors.append("ha_unicast: no facts of %s to find its address in %s; gather facts on every "
                                  "host of %r" % (other, address.network, group))
                continue
            if other != host:
                in_network = [a for dummy, a in networks if a.ip in address.network]
                if unicast and not in_network:
                    errors.append("ha_unicast: %s has no address in %s (%s)" % (other, address.network, _describe(networks)))
                elif in_network:
                    peers.append(str(in_network[0].ip))
        planned.append({
            "name": "edgeops_vrid_%d" % vrid if vrid is not None else "",
            "vip": "%s/%d" % (vip.ip, vip.network.prefixlen),
            "address": str(vip.ip),
            "interface": name,
            "virtual_router_id": vrid,
            "unicast_src_ip": str(address.ip) if unicast else "",
            "unicast_peers": peers if unicast else [],
            "priority": by_host.get(host),
            "master": max(by_host, key=by_host.get) if by_host else "",
        })
    status = _status(role_vars, errors)
    check = _check(role_vars, errors)
    exporter = _exporter(role_vars, errors)
    files = _files(role_vars, errors)
    garp = _garp(role_vars, errors)
    quiet = _quiet(role_vars, errors)
    if errors:
        raise HaError(errors)
    return {
        "instances": planned,
        "priority": priorities[host],
        "advert_int": advert_int,
        "down_timer_adverts": down_timer_adverts,
        # How long nginx's stop waits for another host to answer on the
        # floating addresses: a peer takes over at once on the priority 0
        # advert, at the latest when its master down timer runs out.
        "handover_wait": round((down_timer_adverts + 1) * advert_int + 1, 2),
        "vrrp_version": version,
        # keepalived.conf's spelling: 1, 0.2 (VRRPv3 centiseconds).
        "advert_int_text": ("%.2f" % advert_int).rstrip("0").rstrip("."),
        "garp": garp,
        "quiet_refusals": dict(quiet, addresses=[item["address"] for item in planned]),
        "nopreempt": nopreempt,
        # The password itself stays in ha_auth_pass (checked above), out of the plan that -v shows.
        "auth": bool(auth_pass),
        "status": status,
        "check": check,
        "exporter": exporter,
        "files": files,
        "router_id": host,
        # Adverts each master sends per second, all addresses of the group (the network's cost).
        "adverts_per_second": round(len(planned) / advert_int, 2),
    }
