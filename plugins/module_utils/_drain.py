# -*- coding: utf-8 -*-
# Copyright: edgeops engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What edgeops.nginx_lb.upstream_server decides and waits for, free of
Ansible so it can be unit-tested.

The controller side (the action plugin) checks the request, reads the model
record and the state file the load balancer keeps, and computes the new
state (``check_request``, ``resolve_targets``, ``next_state``); the model,
its check and the role's template then make the new config. The host side
(the module) reloads nginx and, for ``drained``, waits (``wait_drained``)
until the workers that ran the old configuration have exited and no nginx
process holds an established connection to the drained servers.

Why the old workers are the signal: after the reload, the new workers run a
config in which the server is ``down``, so they never open a connection to
it. Every connection to it is held by an old worker, either carrying a
request or idle in the upstream keep-alive cache. An old worker in graceful
shutdown closes its idle connections (keep-alive cache included) at once
and exits when its last request has been answered, so "old workers gone and
no connection left" is exactly "every in-flight request answered"; an idle
keep-alive connection never holds the drain up. nginx's
``worker_shutdown_timeout`` (the role's ``load_balancer_worker_shutdown_timeout``)
ends old workers after that time even with requests in flight.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import os
import re
import socket
import time

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._constants import RECORD_FILE, STATE_FILE, WEIGHT_RANGE
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._convert import to_int
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._files import read_regular
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model import ModelError
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model_vars import OVERRIDE_STATES
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._syntax import (NAME_RE, format_address,
                                                                               parse_address, parse_host)

STATES = ("enabled",) + OVERRIDE_STATES
# What the record names besides the model's inputs (the role writes them).
RECORD_PATHS = ("conf_path", "nginx_conf", "nginx_pid")
TIMEOUT_RANGE = (0, 86400)
# /proc/net/tcp's state column: 01 is ESTABLISHED.
TCP_ESTABLISHED = "01"


class DrainError(ModelError):
    """A request upstream_server refuses; ``errors`` name the field."""


def _int(value, field, bounds, errors):
    return None if value is None else to_int(value, field, errors, bounds)


def _upstream_names(upstream, errors):
    """`upstream` (a name or a list of names) as a list; each wrong one named."""
    names = [upstream] if isinstance(upstream, str) else upstream
    if not isinstance(names, list) or not names:
        errors.append("upstream: must be an upstream name or a non-empty list of them, got %r" % (upstream,))
        return []
    for index, name in enumerate(names):
        where = "upstream" if isinstance(upstream, str) else "upstream[%d]" % index
        if not isinstance(name, str) or not NAME_RE.match(name):
            errors.append("%s: must be an upstream name (letters, digits, _ . -), got %r" % (where, name))
        elif name in names[:index]:
            errors.append("%s: %s is named twice" % (where, name))
    return names


def check_request(upstream, server=None, host=None, state="enabled", weight=None, timeout=60):
    """The module's parameters, normalised (`upstream`: a list of names, one
    change for all of them); DrainError naming each wrong one."""
    errors = []
    upstream = _upstream_names(upstream, errors)
    if (server is None) == (host is None):
        errors.append("server, host: give exactly one of them, got %s"
                      % ("both" if server is not None else "neither"))
    if server is not None:
        try:
            server = format_address(*parse_address(server))
        except ValueError as exc:
            errors.append("server: %s" % exc)
    if host is not None and host_key(host) is None:
        errors.append("host: must be an inventory host name, a host name or an IPv4 or IPv6 address "
                      "(::1 or [::1]), got %r" % (host,))
    if state not in STATES:
        errors.append("state: must be one of %s, got %r" % (", ".join(STATES), state))
    weight = _int(weight, "weight", WEIGHT_RANGE, errors)
    timeout = _int(60 if timeout is None else timeout, "timeout", TIMEOUT_RANGE, errors)
    if errors:
        raise DrainError(errors)
    return {"upstream": upstream, "server": server, "host": host, "state": state, "weight": weight,
            "timeout": timeout}


def host_key(host):
    """`host` as the host part of a normalised server address (an IPv6
    address bracketed, with or without brackets given), None when it is
    neither a host name nor an address."""
    if not isinstance(host, str):
        return None
    text = "[%s]" % host if ":" in host and not host.startswith("[") else host
    try:
        return parse_host(text)
    except ValueError:
        return None


def _shape(value, kind, where, errors):
    if not isinstance(value, kind):
        errors.append("%s: must be a %s, got %r" % (where, "dict" if kind is dict else "list", value))
        return False
    return True


def parse_state(text, where=STATE_FILE):
    """The state file's text -> its dict ({} when there is none yet); its
    shape checked down to each server's entry, DrainError naming the place."""
    if text is None or not text.strip():
        return {}
    try:
        state = json.loads(text)
    except ValueError as exc:
        raise DrainError(["%s: not JSON (%s)" % (where, exc)]) from None
    errors = []
    if _shape(state, dict, where, errors) and _shape(state.get("upstreams", {}), dict, where + ": upstreams", errors):
        for name, entries in state.get("upstreams", {}).items():
            field = "%s: upstreams.%s" % (where, name)
            if _shape(entries, dict, field, errors):
                for address, entry in entries.items():
                    _shape(entry, dict, "%s[%s]" % (field, address), errors)
    if errors:
        raise DrainError(errors)
    return state


def check_record(record, where=RECORD_FILE):
    """The parts of the model record that resolve_targets reads, checked in
    shape (the model's check reads the rest); DrainError naming the place."""
    errors = []
    if _shape(record, dict, where, errors):
        if _shape(record.get("upstreams") or [], list, where + ": upstreams", errors):
            for index, upstream in enumerate(record.get("upstreams") or []):
                if _shape(upstream, dict, "%s: upstreams[%d]" % (where, index), errors):
                    _shape(upstream.get("servers") or [], list, "%s: upstreams[%d].servers" % (where, index), errors)
        if _shape(record.get("hosts") or {}, dict, where + ": hosts", errors):
            for host, addresses in (record.get("hosts") or {}).items():
                if _shape(addresses, list, "%s: hosts.%s" % (where, host), errors) and \
                        not all(isinstance(address, str) for address in addresses):
                    errors.append("%s: hosts.%s: must be a list of addresses, got %r" % (where, host, addresses))
    if errors:
        raise DrainError(errors)
    return record


def dump_state(state):
    """The state file's text: stable, so an unchanged state is an unchanged file."""
    return json.dumps(state, indent=2, sort_keys=True) + "\n"


def _host_of(address):
    return parse_address(address)[0]


def resolve_all(record, upstreams, server=None, host=None):
    """{upstream: its addresses the request acts on} for every upstream named;
    DrainError naming every upstream that lacks the server or host."""
    targets, errors = {}, []
    for upstream in upstreams:
        try:
            targets[upstream] = resolve_targets(record, upstream, server, host)
        except DrainError as exc:
            errors.extend(exc.errors)
    if errors:
        raise DrainError(errors)
    return targets


def addresses_of(targets):
    """Every address of {upstream: addresses} once, in order."""
    return list(dict.fromkeys(address for addresses in targets.values() for address in addresses))


def resolve_targets(record, upstream, server=None, host=None):
    """The addresses of `upstream` the request acts on; DrainError naming the field.

    `host` is an inventory host the role expanded a group from (the record's
    ``hosts``) or the host part of server addresses (an IP or a name).
    """
    upstreams = [u for u in record.get("upstreams") or [] if isinstance(u, dict)]
    found = [u for u in upstreams if u.get("name") == upstream]
    if not found:
        names = ", ".join(sorted(str(u.get("name")) for u in upstreams)) or "none"
        raise DrainError(["upstream: no upstream %r on this load balancer (it has: %s)" % (upstream, names)])
    addresses = []
    for raw in found[0].get("servers") or []:
        try:
            addresses.append(format_address(*parse_address(raw.get("address"))))
        except (ValueError, AttributeError):
            continue  # the model's check names it
    if server is not None:
        if server not in addresses:
            raise DrainError(["server: %s is not a server of upstream %s (it has: %s)"
                              % (server, upstream, ", ".join(addresses) or "none")])
        return [server]
    hosts = record.get("hosts") or {}
    if host in hosts:
        wanted = set(hosts[host])
        chosen = [address for address in addresses if address in wanted]
    else:
        wanted_host = host_key(host)
        chosen = [address for address in addresses if _host_of(address) == wanted_host]
    if not chosen:
        raise DrainError(["host: %s has no server in upstream %s (it has: %s)"
                          % (host, upstream, ", ".join(addresses) or "none")])
    return chosen


def own_drain_targets(model, targets):
    """The targets that got nginx's own `drain` in `model` (drained servers of
    a sticky upstream, nginx >= 1.29.6): clients bound by the cookie keep
    using them, so the wait counts only the old workers for them."""
    return sorted({server.address for upstream in model.upstreams for server in upstream.servers
                   if server.drain and server.address in targets})


def next_state_all(state, targets, new_state, weight=None):
    """next_state for each upstream of {upstream: addresses}, one after the other."""
    for upstream, addresses in targets.items():
        state = next_state(state, upstream, addresses, new_state, weight)
    return state


def next_state(state, upstream, addresses, new_state, weight=None):
    """The state file's content after the request (a copy; `state` is unchanged).

    ``drained``/``disabled`` mark the servers (a weight given is set, an
    earlier one kept); ``enabled`` with a weight keeps only that weight;
    ``enabled`` without one removes the servers' entries: the role's
    variables rule again.
    """
    result = copy.deepcopy(state) if state else {}
    entries = result.setdefault("upstreams", {}).setdefault(upstream, {})
    for address in addresses:
        entry = dict(entries.get(address) or {})
        if new_state in OVERRIDE_STATES:
            entry["state"] = new_state
        else:
            entry.pop("state", None)
            if weight is None:
                entry.pop("weight", None)
        if weight is not None:
            entry["weight"] = weight
        if entry:
            entries[address] = entry
        else:
            entries.pop(address, None)
    if not entries:
        result["upstreams"].pop(upstream)
    return result


# ---------------------------------------------------------------- host side

def _hex_ip(text):
    """/proc/net/tcp's address: little-endian 32-bit words of hex."""
    raw = bytes.fromhex(text)
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return ipaddress.ip_address(words)


def parse_proc_net_tcp(text):
    """Lines of /proc/net/tcp or tcp6 -> [(local (ip, port), remote (ip, port), state, inode, uid)]."""
    entries = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10:
            continue
        try:
            local_ip, local_port = fields[1].split(":")
            remote_ip, remote_port = fields[2].split(":")
            local = (_hex_ip(local_ip), int(local_port, 16))
            remote = (_hex_ip(remote_ip), int(remote_port, 16))
        except ValueError:
            continue
        entries.append((local, remote, fields[3], fields[9], fields[7]))
    return entries


def _plain_ip(ip):
    """An IPv4-mapped IPv6 address (an IPv6 socket to an IPv4 peer) as IPv4."""
    return ip.ipv4_mapped if ip.version == 6 and ip.ipv4_mapped else ip


def count_connections(entries, endpoints, inodes, uids=frozenset()):
    """Established connections to one of `endpoints` ({(ip, port)}) whose socket
    inode is in `inodes` or whose owner is in `uids` (nginx's workers' user:
    root in a container without CAP_SYS_PTRACE cannot read the descriptors of
    a worker that runs as another user, but /proc/net/tcp names the owner)."""
    count = 0
    for dummy, (ip, port), state, inode, uid in entries:
        if state == TCP_ESTABLISHED and (inode in inodes or uid in uids) and (_plain_ip(ip), port) in endpoints:
            count += 1
    return count


def endpoints_of(addresses, resolve=socket.getaddrinfo):
    """host:port addresses -> {(ip, port)}; a name is resolved as nginx did."""
    result = set()
    for address in addresses:
        host, port = parse_address(address)
        host = host[1:-1] if host.startswith("[") else host
        try:
            result.add((ipaddress.ip_address(host), port))
        except ValueError:
            for info in resolve(host, port, 0, socket.SOCK_STREAM):
                result.add((_plain_ip(ipaddress.ip_address(info[4][0])), port))
    return result


def wait_drained(observe, timeout, clock=time.monotonic, sleep=time.sleep, interval=0.1):
    """Poll `observe()` -> (old workers alive, connections) until both are 0.

    Returns {"waited": seconds, "drained": bool, "old_workers": n, "connections": n,
    "old_workers_at_start": n, "connections_at_start": n}; with drained False
    the last counts say what was left when `timeout` seconds had passed.
    """
    start = clock()
    workers, connections = observe()
    first = (workers, connections)
    while workers or connections:
        if clock() - start >= timeout:
            break
        sleep(interval)
        workers, connections = observe()
    return {"waited": round(clock() - start, 3), "drained": not (workers or connections), "old_workers": workers,
            "connections": connections, "old_workers_at_start": first[0], "connections_at_start": first[1]}


def timeout_message(result, addresses, timeout):
    return ("still in flight after %ds: %d connection(s) to %s held by nginx, %d old worker(s) still running"
            % (timeout, result["connections"], ", ".join(addresses), result["old_workers"]))


class Proc:
    """Processes and sockets read from /proc (the module's host side)."""

    def __init__(self, root="/proc"):
        self.root = root

    def read(self, *parts):
        with open(os.path.join(self.root, *parts)) as handle:
            return handle.read()

    def stat(self, pid):
        """(ppid, start time) of `pid`, None when it is gone."""
        try:
            text = self.read(str(pid), "stat")
        except OSError:
            return None
        fields = text.rpartition(")")[2].split()
        return int(fields[1]), fields[19]

    def is_nginx_master(self, pid):
        try:
            return self.read(str(pid), "cmdline").startswith("nginx: master process")
        except OSError:
            return False

    def children(self, master):
        """{pid: start time} of `master`'s children (nginx's workers and helpers)."""
        result = {}
        for name in os.listdir(self.root):
            if name.isdigit():
                stat = self.stat(int(name))
                if stat is not None and stat[0] == master:
                    result[int(name)] = stat[1]
        return result

    def alive(self, processes):
        """The pids of {pid: start time} still running (the same process, not a reused pid)."""
        return [pid for pid, start in processes.items() if (self.stat(pid) or (None, None))[1] == start]

    def uid(self, pid):
        """The real uid of `pid` as /proc/net/tcp writes it, None when it is gone."""
        try:
            for line in self.read(str(pid), "status").splitlines():
                if line.startswith("Uid:"):
                    return line.split()[1]
        except OSError:
            return None
        return None

    def socket_inodes(self, pids):
        inodes = set()
        for pid in pids:
            fd_dir = os.path.join(self.root, str(pid), "fd")
            try:
                names = os.listdir(fd_dir)
            except OSError:
                continue
            for name in names:
                try:
                    target = os.readlink(os.path.join(fd_dir, name))
                except OSError:
                    continue
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        return inodes

    def tcp_entries(self):
        entries = []
        for name in ("tcp", "tcp6"):
            try:
                entries.extend(parse_proc_net_tcp(self.read("net", name)))
            except OSError:
                continue
        return entries


def read_pid(path, proc=None):
    """The nginx master's pid from its pid file; DrainError when nginx does not run."""
    try:
        text = read_regular(path, 64)[:64].decode("ascii", "replace").strip()
    except OSError as exc:
        raise DrainError(["nginx: not running (cannot read its pid file %s: %s)" % (path, exc.strerror)]) from None
    if not re.match(r"\A[0-9]{1,9}\Z", text):
        raise DrainError(["nginx: its pid file %s holds %r, not a pid" % (path, text[:40])])
    if proc is not None and not proc.is_nginx_master(int(text)):
        raise DrainError(["nginx: not running (process %s of its pid file %s is no nginx master)" % (text, path)])
    return int(text)


def observer(proc, master, old, endpoints):
    """observe() for wait_drained: old workers alive, and established
    connections to `endpoints` held by any nginx process (master, old and
    current workers: by socket descriptor, or by the workers' user)."""
    def observe():
        alive = proc.alive(old)
        pids = set(alive) | set(proc.children(master)) | {master}
        workers = (set(alive) | set(proc.children(master))) - {master}
        uids = {proc.uid(pid) for pid in workers} - {None}
        connections = count_connections(proc.tcp_entries(), endpoints, proc.socket_inodes(pids), uids)
        return len(alive), connections
    return observe
