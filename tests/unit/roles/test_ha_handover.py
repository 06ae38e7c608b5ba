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
    (["h", "up", "/run/f"], ("up", "/run/f", None, None, None, [])),
    (["h", "down", "/run/f", "nginx.service", "8081", "5", "192.0.2.10"],
     ("down", "/run/f", "nginx.service", 8081, 5.0, ["192.0.2.10"])),
    (["h", "down", "/run/f", "nginx@edge.service", "1", "0.5", "192.0.2.10", "192.0.2.11"],
     ("down", "/run/f", "nginx@edge.service", 1, 0.5, ["192.0.2.10", "192.0.2.11"])),
])
def test_good_arguments(argv, parsed):
    assert handover.parse(argv) == parsed


@pytest.mark.parametrize("argv, start", [
    (["h"], "usage:"),
    (["h", "up"], "usage:"),
    (["h", "sideways", "/run/f"], "usage:"),
    (["h", "down", "/run/f", "nginx", "8081", "5"], "usage:"),
    (["h", "down", "/run/f", "8081", "5", "192.0.2.10"], "usage:"),
    (["h", "down", "/run/f", "-H", "8081", "5", "192.0.2.10"], "SERVICE: not a systemd unit name"),
    (["h", "down", "/run/f", "nginx;reboot", "8081", "5", "192.0.2.10"], "SERVICE: not a systemd unit name"),
    (["h", "down", "/run/f", "nginx\n", "8081", "5", "192.0.2.10"], "SERVICE: not a systemd unit name"),
    (["h", "down", "/run/f", "ngin\u0445", "8081", "5", "192.0.2.10"], "SERVICE: not a systemd unit name"),
    (["h", "down", "/run/f", "n{x}", "8081", "5", "192.0.2.10"], "SERVICE: not a systemd unit name"),
    (["h", "down", "/run/f", "n" * 300, "8081", "5", "192.0.2.10"], "SERVICE: not a systemd unit name"),
    (["h", "down", "/run/f", "nginx", "0", "5", "192.0.2.10"], "PORT: must be 1-65535"),
    (["h", "down", "/run/f", "nginx", "80x", "5", "192.0.2.10"], "PORT: must be 1-65535"),
    (["h", "down", "/run/f", "nginx", "8081", "0", "192.0.2.10"], "SECONDS: must be more than 0"),
    (["h", "down", "/run/f", "nginx", "8081", "nan", "192.0.2.10"], "SECONDS: must be more than 0"),
    (["h", "down", "/run/f", "nginx", "8081", "5", "192.0.2.10/24"], "ADDRESS: not an IPv4 address"),
    (["h", "down", "/run/f", "nginx", "8081", "5", "host; rm"], "ADDRESS: not an IPv4 address"),
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


class Completed:
    def __init__(self, returncode, stdout):
        self.returncode, self.stdout = returncode, stdout


@pytest.mark.parametrize("returncode, stdout, pid", [
    (0, "4242\n", 4242),
    (0, "0\n", None),  # not running
    (0, "1\n", None),  # never signal init
    (1, "", None),  # no such unit, or no systemd
    (0, "[not set]\n", None),
])
def test_main_pid_comes_from_systemd(returncode, stdout, pid):
    calls = []

    def run(argv, **kwargs):
        calls.append(argv)
        return Completed(returncode, stdout)

    assert handover.main_pid("nginx.service", run=run) == pid
    assert calls == [["systemctl", "show", "--property", "MainPID", "--value", "--", "nginx.service"]]


def test_main_pid_without_systemctl_is_none():
    def run(argv, **kwargs):
        raise FileNotFoundError(argv[0])

    assert handover.main_pid("nginx.service", run=run) is None


def test_drain_asks_for_a_graceful_stop_and_waits_until_the_master_exited():
    clock = Clock()
    signals = []
    result = handover.drain(4242, 2.0, kill=lambda pid, sig: signals.append((pid, sig)),
                            is_alive=lambda pid: clock.now < 100.3, clock=clock, sleep=clock.sleep)
    assert signals == [(4242, handover.signal.SIGQUIT)]
    assert 0.3 <= result <= 0.32, result


def test_drain_is_bounded_when_requests_do_not_finish():
    clock = Clock()
    result = handover.drain(4242, 1.0, kill=lambda pid, sig: None, is_alive=lambda pid: True, clock=clock,
                            sleep=clock.sleep)
    assert result is None and 101.0 <= clock.now <= 101.05


def test_drain_of_a_process_already_gone_returns_at_once():
    def kill(pid, sig):
        raise ProcessLookupError(pid)

    clock = Clock()
    assert handover.drain(4242, 1.0, kill=kill, clock=clock, sleep=clock.sleep) == 0.0 and clock.now == 100.0


def test_down_hands_over_even_when_nginx_cannot_be_signalled(tmp_path, monkeypatch, capsys):
    track = tmp_path / "handover"
    monkeypatch.setattr(handover, "main_pid", lambda service: 4242)

    def drain(pid, seconds):
        raise PermissionError("not permitted")

    monkeypatch.setattr(handover, "drain", drain)
    monkeypatch.setattr(handover, "hand_over", lambda port, seconds, addresses: {"192.0.2.10": 0.2})
    assert handover.main(["h", "down", str(track), "nginx.service", "8081", "1", "192.0.2.10"]) == 0
    assert track.read_text() == "1\n"
    err = capsys.readouterr().err
    assert "could not ask nginx.service (pid 4242) to finish" in err and "finished its requests" not in err, err


def test_bad_arguments_signal_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(handover, "main_pid", lambda service: pytest.fail("asked systemd on bad arguments"))
    track = tmp_path / "handover"
    assert handover.main(["h", "down", str(track), "nginx.service", "8081", "5", "not-an-address"]) == 2
    assert not track.exists()
