# -*- coding: utf-8 -*-
# Copyright: edgeops engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The app_servers role's input, checked before anything on the host changes.

Everything here reaches the systemd unit, an instance's settings file or the
program's command line: a space, a newline or a `$` would inject arguments,
settings or unit lines, so each value is judged against an anchored
allow-list. One message per wrong variable, naming it.

The release's command allow-lists (COMMAND_ITEM_RE, COMMAND_VALUE_RE) are the
ones the launcher on the host applies again: the role writes them into the
release description it installs beside the launcher (files/launch.py runs
on the host with the standard library only and cannot import this module).
"""

from __future__ import annotations

import ipaddress
import os
import re

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._convert import to_int

VERSION_RE = r"\A[A-Za-z0-9][A-Za-z0-9._+-]{0,63}\Z"
HEALTH_PATH_RE = r"\A/[A-Za-z0-9._~/-]{0,200}\Z"
PLACEHOLDERS = ("port", "bind", "version", "health_path", "release", "python")
# One argument of the command: no space, quote, `$`, `%` (systemd's specifiers) or `{` but a placeholder's.
COMMAND_ITEM_RE = r"\A(?:[A-Za-z0-9_./:=,@+-]|\{(?:%s)\})+\Z" % "|".join(PLACEHOLDERS)
# What a placeholder may expand to.
COMMAND_VALUE_RE = r"\A[A-Za-z0-9_./:=,@+~-]*\Z"
COMMAND_PROGRAM_RE = r"\A(?:/|\{release\}/|\{python\}\Z)"
MEMORY_RE = r"\A[1-9][0-9]{0,12}[KMG]?\Z"
# RFC 1123 labels; not all digits and dots (that is a wrong IPv4 address).
HOST_NAME_RE = (r"\A(?![0-9.]+\Z)(?=.{1,253}\Z)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?\Z")
_ADDRESS_TEXT_RE = re.compile(r"\A[0-9A-Fa-f.:]{1,45}(?:/[0-9]{1,3})?\Z")


class AppInputError(ValueError):
    """Every wrong variable, one message each."""

    def __init__(self, errors):
        super().__init__("; ".join(errors))
        self.errors = errors


def _shown(value, limit=80):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _int(value):
    """An int as _convert reads one; None for anything else (booleans too):
    the caller names the variable in its own words."""
    return to_int(value, "value", [])


def _in_range(value, low, high):
    number = _int(value)
    return number is not None and low <= number <= high


def _ports(value):
    """A list of ports as ints, or None when it is not a list of 1024-65535."""
    if not isinstance(value, list):
        return None
    ports = [_int(item) for item in value]
    return ports if all(p is not None and 1024 <= p <= 65535 for p in ports) else None


def parse_address(text, network=False):
    """An IPv4 or IPv6 address (with network: or a CIDR) -> its normal form; ValueError else.

    Not the dotted IPv6 forms (::ffff:1.2.3.4) nor zone ids: systemd and the
    app read neither the same way.
    """
    if not isinstance(text, str) or not _ADDRESS_TEXT_RE.match(text) or ("." in text and ":" in text) \
            or ("/" in text and not network):
        raise ValueError("not an IP address%s: %s" % (" or CIDR" if network else "", _shown(text)))
    try:
        parsed = ipaddress.ip_network(text, strict=False) if network else ipaddress.ip_address(text)
    except ValueError:
        raise ValueError("not an IP address%s: %s" % (" or CIDR" if network else "", _shown(text))) from None
    return str(parsed)


def is_host(text):
    """An IP address or a host name the unit and the app can take as they are."""
    if not isinstance(text, str):
        return False
    try:
        parse_address(text)
        return True
    except ValueError:
        return bool(re.match(HOST_NAME_RE, text))


def is_network(text):
    if text == "any":
        return True
    try:
        parse_address(text, network=True)
        return True
    except ValueError:
        return False


def _check_ports(v, errors):
    ports, tcp, udp = _ports(v["app_servers_ports"]), _ports(v["app_servers_tcp_ports"]), _ports(v["app_servers_udp_ports"])
    if not ports or len(set(ports)) != len(ports):
        errors.append("app_servers_ports: must be a non-empty list of distinct ports in 1024-65535 (ports below 1024 "
                      "need a capability the sandboxed unit does not have), got %s" % _shown(v["app_servers_ports"]))
    for name, found in (("app_servers_tcp_ports", tcp), ("app_servers_udp_ports", udp)):
        if found is None:
            errors.append("%s: must be a list of ports in 1024-65535, got %s" % (name, _shown(v[name], 100)))
    every = (ports or []) + (tcp or []) + (udp or [])
    clashes = sorted({p for p in every if every.count(p) > 1})
    if ports and len(set(ports)) == len(ports) and clashes:
        errors.append("app_servers_tcp_ports and app_servers_udp_ports: each port must be distinct from every other "
                      "port of app_servers_ports, app_servers_tcp_ports and app_servers_udp_ports (one instance per "
                      "port), got %s twice" % ", ".join(str(p) for p in clashes))
    return ports or [], tcp or [], udp or []


def _check_numbers(v, ports, errors):
    latency = v["app_servers_latency_ms"]
    if not isinstance(latency, dict) or any(_int(k) not in ports or not _in_range(val, 0, 60000)
                                            for k, val in latency.items()):
        errors.append("app_servers_latency_ms: must map ports of app_servers_ports to 0-60000 ms, got %s for ports %s"
                      % (_shown(latency), ports))
    for name, low, high, unit in (("app_servers_weight", 1, 1000, ""), ("app_servers_header_timeout", 1, 3600, " s"),
                                  ("app_servers_idle_timeout", 1, 86400, " s"),
                                  ("app_servers_max_body", 0, 1073741824, " bytes"),
                                  ("app_servers_keep_releases", 0, 100, "")):
        if not _in_range(v[name], low, high):
            errors.append("%s: must be %d-%d%s, got %s" % (name, low, high, unit, _shown(v[name])))
    memory = v["app_servers_memory_max"]
    if not isinstance(memory, str) or not re.match(MEMORY_RE, memory):
        errors.append("app_servers_memory_max: must be bytes or a number with K, M or G, got %s" % _shown(memory, 40))


def _check_reach(v, lb_hosts, errors):
    bind, networks = v["app_servers_bind_address"], v["app_servers_allowed_networks"]
    if not is_host(bind):
        errors.append("app_servers_bind_address: must be an IPv4 or IPv6 address or a host name, got %s" % _shown(bind))
    if not isinstance(networks, list) or not all(is_network(n) for n in networks):
        wrong = [n for n in networks if not is_network(n)] if isinstance(networks, list) else networks
        errors.append("app_servers_allowed_networks: must list IPv4 or IPv6 addresses or CIDRs, or `any`, got %s"
                      % _shown(wrong, 200))
    elif not networks and not _loopback(bind) and not lb_hosts:
        errors.append("app_servers_allowed_networks: it is empty and inventory group %s (app_servers_lb_group) has no "
                      "hosts, so nothing but this host could reach %s: set app_servers_allowed_networks"
                      % (_shown(v.get("app_servers_lb_group")), _shown(bind)))


def _loopback(bind):
    return bind in ("localhost", "::1") or (isinstance(bind, str) and bind.startswith("127."))


def _check_release(v, errors, exists):
    for name, pattern, rule in (
            ("app_servers_version", VERSION_RE, "1-64 of A-Z a-z 0-9 . _ + - starting with a letter or digit"),
            ("app_servers_health_path", HEALTH_PATH_RE, "/ then up to 200 of A-Z a-z 0-9 . _ ~ / -")):
        if not isinstance(v[name], str) or not re.match(pattern, v[name]):
            errors.append("%s: must be %s, got %s" % (name, rule, _shown(v[name])))
    command, program = v["app_servers_command"], v["app_servers_program"]
    if not isinstance(command, list):
        errors.append("app_servers_command: must be a list of arguments, got %s" % _shown(command))
    else:
        wrong = [item for item in command if not isinstance(item, str) or not re.match(COMMAND_ITEM_RE, item)]
        if wrong:
            errors.append("app_servers_command: must list arguments of A-Z a-z 0-9 _ . / : = , @ + - and the "
                          "placeholders %s (no space, quote, $ or %%), not allowed: %s"
                          % (" ".join("{%s}" % p for p in PLACEHOLDERS), _shown(wrong, 200)))
        elif command and not re.match(COMMAND_PROGRAM_RE, command[0]):
            errors.append("app_servers_command: the first item must be an absolute path, {release}/... or {python}, "
                          "got %s" % _shown(command[0]))
        elif not command and isinstance(program, str) and program:
            errors.append("app_servers_command: it is empty but app_servers_program is set")
    if not isinstance(program, str) or (program and not exists(program)):
        errors.append("app_servers_program: must be empty (the tutorial app) or a file or directory on the "
                      "controller, got %s" % _shown(program, 200))


def ip_allow(own_addresses, networks, lb_addresses, floating=()):
    """The unit's IPAddressAllow= list: loopback, this host's addresses, then
    app_servers_allowed_networks or else the load balancers' addresses.

    The ha role's floating addresses are left out: they come and go with the
    VRRP master, and the unit (and every instance) would change each time
    one moves; connections to the app servers never come from them. Facts
    are input too: each entry must be an address or CIDR (AppInputError).
    """
    floating = {str(f).split("/", maxsplit=1)[0] for f in floating if f}
    found = []
    for address in ["127.0.0.0/8", "::1/128"] + list(own_addresses) + list(networks or lb_addresses):
        address = str(address)
        if address not in floating and address not in found:
            found.append(address)
    wrong = [a for a in found if not is_network(a)]
    if wrong:
        raise AppInputError(["IPAddressAllow (app_servers_allowed_networks, or the facts of this host and of the "
                             "hosts of app_servers_lb_group): not an address or CIDR: %s" % _shown(wrong, 200)])
    return found


def app_model(variables, lb_hosts=(), own_addresses=(), lb_addresses=(), floating=(), exists=os.path.exists):
    """The role's variables (by name) -> {'modes': {port: http|tcp|udp}, 'all_ports': [...], 'ip_allow': [...],
    'allow': the launcher's allow-lists}; AppInputError naming each wrong variable."""
    errors = []
    ports, tcp, udp = _check_ports(variables, errors)
    _check_numbers(variables, ports, errors)
    _check_reach(variables, lb_hosts, errors)
    _check_release(variables, errors, exists)
    if errors:
        raise AppInputError(errors)
    modes = dict([(str(p), "http") for p in ports] + [(str(p), "tcp") for p in tcp] + [(str(p), "udp") for p in udp])
    return {"modes": modes, "all_ports": ports + tcp + udp,
            "ip_allow": ip_allow(own_addresses, variables["app_servers_allowed_networks"], lb_addresses, floating),
            "allow": {"item": COMMAND_ITEM_RE, "value": COMMAND_VALUE_RE}}
