# -*- coding: utf-8 -*-
# Copyright: edgeops engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ask a DNS server (an upstream's `resolver`) for a name's A and AAAA
records over UDP, the way nginx does for a `server NAME resolve`: lb_verify
judges the share of the set nginx's own resolver gives, not the one of the
host's resolv.conf. Standard library only: it also runs on targets."""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
import time

TYPE_A, TYPE_AAAA, CLASS_IN = 1, 28, 1
MAX_ANSWER = 4096


class DnsError(Exception):
    """No usable answer: the message says why (timeout, refused, malformed)."""


class StrayAnswer(DnsError):
    """A datagram that answers another query (or no query): not ours."""


def query_packet(name, qtype, ident):
    """A recursive query for `name` (RFC 1035 4.1)."""
    labels = name.rstrip(".").split(".")
    if not all(0 < len(label) < 64 for label in labels):
        raise DnsError("%r is not a DNS name" % (name,))
    question = b"".join(struct.pack("B", len(label)) + label.encode("ascii") for label in labels) + b"\0"
    return struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + question + struct.pack("!HH", qtype, CLASS_IN)


def _skip_name(data, offset):
    """The offset after a (possibly compressed) name at `offset`."""
    while True:
        if offset >= len(data):
            raise DnsError("truncated name")
        length = data[offset]
        if length & 0xC0 == 0xC0:
            return offset + 2
        if length == 0:
            return offset + 1
        offset += 1 + length


def parse_answer(data, ident, qtype):
    """(addresses of type `qtype` in the answer section, their smallest TTL or None)."""
    if len(data) < 12:
        raise DnsError("short answer")
    got_ident, flags, questions, answers = struct.unpack("!HHHH", data[:8])
    if got_ident != ident or not flags & 0x8000:
        raise StrayAnswer("answer to another query")
    rcode = flags & 0xF
    if rcode == 3:      # NXDOMAIN: the name has no address
        return [], None
    if rcode:
        raise DnsError("server answered rcode %d" % rcode)
    offset = 12
    for dummy in range(questions):
        offset = _skip_name(data, offset) + 4
    found, ttls = [], []
    for dummy in range(answers):
        offset = _skip_name(data, offset)
        if offset + 10 > len(data):
            raise DnsError("truncated record")
        rtype, rclass, ttl, length = struct.unpack("!HHIH", data[offset:offset + 10])
        offset += 10
        rdata = data[offset:offset + length]
        offset += length
        if rclass == CLASS_IN and rtype == qtype and len(rdata) == (4 if qtype == TYPE_A else 16):
            found.append(str(ipaddress.ip_address(rdata)))
            ttls.append(ttl)
    return found, (min(ttls) if ttls else None)


def server_address(text):
    """'192.0.2.53', '192.0.2.53:5353', '[::1]', '[::1]:53' -> (family, host, port)."""
    host, port = text, 53
    if text.startswith("["):
        host, dummy, rest = text[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") else 53
        return socket.AF_INET6, host, port
    if ":" in text:
        host, dummy, port = text.rpartition(":")
        port = int(port)
    return socket.AF_INET, host, port


def ask(server, name, qtype, timeout=2.0):
    """The addresses (and smallest TTL) `server` gives for `name`; DnsError when none answers in `timeout`."""
    family, host, port = server_address(server)
    ident = struct.unpack("!H", os.urandom(2))[0]
    packet = query_packet(name, qtype, ident)
    deadline = time.monotonic() + timeout
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.connect((host, port))
        sock.send(packet)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise DnsError("no answer from %s within %gs" % (server, timeout))
            sock.settimeout(left)
            try:
                data = sock.recv(MAX_ANSWER)
            except socket.timeout:
                continue
            except OSError as exc:
                raise DnsError("%s: %s" % (server, exc)) from None
            try:
                return parse_answer(data, ident, qtype)
            except StrayAnswer:
                continue    # wait for ours until the deadline


def resolve_with(servers, name, ipv6=False, timeout=2.0):
    """The set of addresses of `name` from the first of `servers` that
    answers (A, and AAAA with `ipv6`), as nginx's resolver asks them."""
    problems = []
    for server in servers:
        try:
            found = ask(server, name, TYPE_A, timeout)[0]
            if ipv6:
                found += ["[%s]" % address for address in ask(server, name, TYPE_AAAA, timeout)[0]]
            return sorted(set(found))
        except (DnsError, OSError, ValueError) as exc:
            problems.append(str(exc))
    raise DnsError("; ".join(problems) or "no DNS server to ask")
