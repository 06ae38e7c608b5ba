"""The ha role's hand-over script (roles/ha/files/handover.py), run as its
systemd unit runs it, on loopback: `ip` reads this machine's addresses, the
probe sends real SYNs. 127.0.0.1 is listed by `ip address` (held here);
127.0.0.2 is not listed but answered by this machine's loopback, like a
floating address another host answers on."""

import shutil
import subprocess
import sys
import time

import pytest

from helpers.localnet import free_port
from helpers.paths import ROLES

SCRIPT = ROLES / "ha" / "files" / "handover.py"
# No such unit (or no systemd here): nothing to let finish, the hand-over goes on.
NO_UNIT = "edgeops-no-such-unit.service"
pytestmark = pytest.mark.skipif(shutil.which("ip") is None, reason="iproute2's ip is not installed")


def run(*args):
    started = time.monotonic()
    proc = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=30,
                          check=False)
    return proc, time.monotonic() - started


def test_up_clears_the_track_file(tmp_path):
    track = tmp_path / "handover"
    track.write_text("1\n")
    proc, dummy = run("up", str(track))
    assert proc.returncode == 0 and track.read_text() == "0\n"


def test_down_sets_the_track_file_and_returns_once_another_host_answers(tmp_path):
    track = tmp_path / "handover"
    proc, took = run("down", str(track), NO_UNIT, str(free_port()), "5", "127.0.0.2")
    assert proc.returncode == 0 and track.read_text() == "1\n"
    assert took < 2.0, took  # the reset of a closed port counts as an answer
    assert "127.0.0.2 answered by another host" in proc.stderr


def test_down_waits_at_most_its_seconds_while_the_address_is_still_held_here(tmp_path):
    track = tmp_path / "handover"
    proc, took = run("down", str(track), NO_UNIT, str(free_port()), "1", "127.0.0.1")
    assert proc.returncode == 0 and track.read_text() == "1\n"
    assert 1.0 <= took < 3.0, took
    assert "no other host answered on 127.0.0.1 within 1.0 s" in proc.stderr


def test_bad_arguments_change_nothing(tmp_path):
    track = tmp_path / "handover"
    proc, dummy = run("down", str(track), NO_UNIT, "8081", "5", "127.0.0.1;reboot")
    assert proc.returncode == 2 and "ADDRESS: not an IPv4 address" in proc.stderr
    assert not track.exists()
