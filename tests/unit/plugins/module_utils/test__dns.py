"""The DNS client lb_verify asks an upstream's resolver with: packets built
and read by hand (no socket in this tier)."""

import struct

import pytest

from ansible_collections.edgeops.nginx_lb.plugins.module_utils import _dns


def answer(ident, records, rcode=0, qtype=_dns.TYPE_A, name="dyn.edgeops.test", compress=True):
    """A response to query_packet(name, qtype, ident) with `records` [(type, ttl, rdata)]."""
    query = _dns.query_packet(name, qtype, ident)
    head = struct.pack("!HHHHHH", ident, 0x8180 | rcode, 1, len(records), 0, 0)
    body = b""
    for rtype, ttl, rdata in records:
        owner = b"\xc0\x0c" if compress else query[12:-4]
        body += owner + struct.pack("!HHIH", rtype, _dns.CLASS_IN, ttl, len(rdata)) + rdata
    return head + query[12:] + body


def test_the_query_asks_one_name_recursively():
    packet = _dns.query_packet("dyn.edgeops.test.", _dns.TYPE_A, 0x1234)
    assert packet[:12] == struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
    assert packet[12:] == b"\x03dyn\x07edgeops\x04test\x00" + struct.pack("!HH", 1, 1)


@pytest.mark.parametrize("name", ["a..b", "", "x" * 64 + ".test"])
def test_a_name_that_is_no_dns_name_is_refused(name):
    with pytest.raises(_dns.DnsError):
        _dns.query_packet(name, _dns.TYPE_A, 1)


@pytest.mark.parametrize("records, compress, found, ttl", [
    ([(1, 2, bytes([127, 0, 0, 2])), (1, 5, bytes([127, 0, 0, 3]))], True, ["127.0.0.2", "127.0.0.3"], 2),
    ([(1, 30, bytes([10, 0, 0, 1]))], False, ["10.0.0.1"], 30),
    # A CNAME before the address, and a record of another type: only A is taken.
    ([(5, 60, b"\x03app\xc0\x10"), (1, 60, bytes([10, 0, 0, 9])), (28, 60, bytes(16))], True, ["10.0.0.9"], 60),
    ([], True, [], None),
])
def test_the_answer_gives_the_addresses_of_the_asked_type(records, compress, found, ttl):
    assert _dns.parse_answer(answer(7, records, compress=compress), 7, _dns.TYPE_A) == (found, ttl)


def test_aaaa_records_are_ipv6_addresses():
    rdata = bytes(15) + b"\x01"
    assert _dns.parse_answer(answer(9, [(28, 1, rdata)], qtype=28), 9, _dns.TYPE_AAAA) == (["::1"], 1)


def test_nxdomain_is_no_address_and_other_failures_are_errors():
    assert _dns.parse_answer(answer(3, [], rcode=3), 3, _dns.TYPE_A) == ([], None)
    with pytest.raises(_dns.DnsError, match="rcode 2"):
        _dns.parse_answer(answer(3, [], rcode=2), 3, _dns.TYPE_A)
    with pytest.raises(_dns.DnsError, match="another query"):
        _dns.parse_answer(answer(3, []), 4, _dns.TYPE_A)
    with pytest.raises(_dns.DnsError):
        _dns.parse_answer(answer(3, [(1, 2, bytes([1, 2, 3, 4]))])[:-6], 3, _dns.TYPE_A)


@pytest.mark.parametrize("text, expected", [
    ("127.0.0.53", (_dns.socket.AF_INET, "127.0.0.53", 53)),
    ("127.0.0.53:5353", (_dns.socket.AF_INET, "127.0.0.53", 5353)),
    ("[::1]", (_dns.socket.AF_INET6, "::1", 53)),
    ("[::1]:5353", (_dns.socket.AF_INET6, "::1", 5353)),
])
def test_server_addresses(text, expected):
    assert _dns.server_address(text) == expected


def test_the_first_server_that_answers_gives_the_set(monkeypatch):
    asked = []

    def ask(server, name, qtype, timeout=2.0):
        asked.append((server, qtype))
        if server == "10.0.0.1":
            raise _dns.DnsError("no answer from 10.0.0.1 within 2s")
        return (["127.0.0.3", "127.0.0.2", "127.0.0.3"], 2) if qtype == _dns.TYPE_A else (["::1"], 2)

    monkeypatch.setattr(_dns, "ask", ask)
    assert _dns.resolve_with(["10.0.0.1", "127.0.0.53"], "dyn.test") == ["127.0.0.2", "127.0.0.3"]
    assert asked == [("10.0.0.1", 1), ("127.0.0.53", 1)]
    assert _dns.resolve_with(["127.0.0.53"], "dyn.test", ipv6=True) == ["127.0.0.2", "127.0.0.3", "[::1]"]
    with pytest.raises(_dns.DnsError, match="10.0.0.1"):
        _dns.resolve_with(["10.0.0.1"], "dyn.test")


class FakeSocket:
    """A UDP socket that receives the given datagrams (answers to the query it was sent)."""

    def __init__(self, replies):
        self.replies, self.sent = replies, []

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False

    def connect(self, address):
        self.address = address

    def send(self, packet):
        self.sent.append(packet)

    def settimeout(self, seconds):
        pass

    def recv(self, size):
        if not self.replies:
            raise _dns.socket.timeout()
        return self.replies.pop(0)(struct.unpack("!H", self.sent[0][:2])[0])


@pytest.mark.parametrize("replies, outcome", [
    # A stray datagram is skipped; ours is read.
    ([lambda ident: answer(ident ^ 1, []), lambda ident: answer(ident, [(1, 2, bytes([127, 0, 0, 2]))])],
     (["127.0.0.2"], 2)),
    # A refusal is said at once, not waited out.
    ([lambda ident: answer(ident, [], rcode=5)], "rcode 5"),
    ([], "no answer from 127.0.0.53:5353"),
])
def test_ask_reads_its_own_answer(monkeypatch, replies, outcome):
    fake = FakeSocket(list(replies))
    monkeypatch.setattr(_dns.socket, "socket", lambda family, kind: fake)
    if isinstance(outcome, str):
        with pytest.raises(_dns.DnsError, match=outcome.replace(".", r"\.")):
            _dns.ask("127.0.0.53:5353", "dyn.edgeops.test", _dns.TYPE_A, timeout=0.05)
    else:
        assert _dns.ask("127.0.0.53:5353", "dyn.edgeops.test", _dns.TYPE_A, timeout=1) == outcome
    assert fake.address == ("127.0.0.53", 5353)
