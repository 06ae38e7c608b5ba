"""The ha role's hand-over script (roles/ha/files/handover.py): its arguments
and its wait, with the host's addresses and the probe replaced by fakes (the
real ones run in tests/functional/test_ha_handover.py)."""

import importlib.util

import pytest

from helpers.paths import ROLES

SPEC = importlib.util.spec_from_file_location("handover", ROLES / "ha" / "files" / "handover.py")
handover = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(handover)

IP_OUTPUT = """1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
52: eth0    inet 172.29.77.11/24 brd 172.29.77.255 scope global eth0\\       valid_lft forever preferred_lft forever
52: eth0    inet 172.29.77.200/24 scope global secondary eth0\\       valid_lft forever preferred_lft forever
"""


def test_held_addresses_reads_every_ipv4_address():
    assert handover.held_addresses(IP_OUTPUT) == {"127.0.0.1", "172.29.77.11", "172.29.77.200"}
    assert handover.held_addresses("") == set()


@pytest.mark.parametrize("argv, parsed", [
    (["h", "up", "/run/f"], ("up", "/run/f", None, None, [])),
    (["h", "down", "/run/f", "8081", "5", "192.0.2.10"], ("down", "/run/f", 8081, 5.0, ["192.0.2.10"])),
    (["h", "down", "/run/f", "1", "0.5", "192.0.2.10", "192.0.2.11"],
     ("down", "/run/f", 1, 0.5, ["192.0.2.10", "192.0.2.11"])),
])
def test_good_arguments(argv, parsed):
    assert handover.parse(argv) == parsed


@pytest.mark.parametrize("argv, start", [
    (["h"], "usage:"),
    (["h", "up"], "usage:"),
    (["h", "sideways", "/run/f"], "usage:"),
    (["h", "down", "/run/f", "8081", "5"], "usage:"),
    (["h", "down", "/run/f", "0", "5", "192.0.2.10"], "PORT: must be 1-65535"),
    (["h", "down", "/run/f", "80x", "5", "192.0.2.10"], "PORT: must be 1-65535"),
    (["h", "down", "/run/f", "8081", "0", "192.0.2.10"], "SECONDS: must be more than 0"),
    (["h", "down", "/run/f", "8081", "nan", "192.0.2.10"], "SECONDS: must be more than 0"),
    (["h", "down", "/run/f", "8081", "5", "192.0.2.10/24"], "ADDRESS: not an IPv4 address"),
    (["h", "down", "/run/f", "8081", "5", "host; rm"], "ADDRESS: not an IPv4 address"),
])
def test_bad_arguments_are_named(argv, start):
    with pytest.raises(ValueError) as caught:
        handover.parse(argv)
    assert str(caught.value).startswith(start), caught.value


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_the_wait_ends_when_the_address_left_and_another_host_answers():
    clock = Clock()

    # Held here for 0.3 s, then gone; the peer answers from 0.5 s on.
    def local():
        return {"172.29.77.11"} | ({"172.29.77.200"} if clock.now < 100.3 else set())

    probed = []

    def probe(address, port, timeout):
        probed.append((address, port, round(clock.now, 2)))
        return clock.now >= 100.5

    result = handover.hand_over(8081, 5.0, ["172.29.77.200"], local=local, probe=probe, clock=clock,
                                sleep=clock.sleep)
    assert 0.5 <= result["172.29.77.200"] <= 0.6, result
    # Never probed while the address was still held here (it would answer itself).
    assert probed and all(at >= 100.3 for dummy, dummy, at in probed), probed
    assert all(port == 8081 for dummy, port, dummy in probed)


def test_the_wait_is_bounded_when_nobody_answers():
    clock = Clock()
    result = handover.hand_over(8081, 2.0, ["192.0.2.10", "192.0.2.11"], local=set, probe=lambda *a: False,
                                clock=clock, sleep=clock.sleep)
    assert result == {"192.0.2.10": None, "192.0.2.11": None}
    assert 102.0 <= clock.now <= 102.1


def test_an_address_still_held_here_is_never_handed_over():
    clock = Clock()
    result = handover.hand_over(8081, 1.0, ["192.0.2.10"], local=lambda: {"192.0.2.10"}, probe=lambda *a: True,
                                clock=clock, sleep=clock.sleep)
    assert result == {"192.0.2.10": None}
