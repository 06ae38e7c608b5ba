"""host_info as Ansible runs it (a child process, JSON arguments): real
answers from this machine, and a clear failure naming what it could not read."""

import os
import shutil
import subprocess
import time

import pytest

from helpers.processes import run_module


def test_answers_what_is_asked(tmp_path):
    (tmp_path / "7001.env").write_text("APP_SERVER_MODE=http\n")
    state = tmp_path / "upstream_state.json"
    state.write_text("{}\n")
    result = run_module("host_info", {"user": "root", "group": "root", "directories": [str(tmp_path)],
                                      "read": [str(state), str(tmp_path / "missing.json")]})
    assert result["changed"] is False
    assert result["user"]["uid"] == 0 and result["group"]["gid"] == 0
    assert [f["path"] for f in result["files"]] == [str(tmp_path / "7001.env"), str(state)]
    assert result["content"] == {str(state): "{}\n", str(tmp_path / "missing.json"): None}
    assert "packages" not in result and "units" not in result


@pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="no dpkg-query on this machine")
def test_packages_come_back_as_versions_by_name():
    installed = subprocess.run(["dpkg-query", "--show", "--showformat", "${Version}", "dpkg"], check=True,
                               capture_output=True, text=True).stdout
    result = run_module("host_info", {"package_manager": "dpkg", "packages": ["dpkg", "edgeops-no-such-package"]})
    # One unknown package is still an answer (dpkg-query exits 1).
    assert result["packages"] == {"dpkg": installed, "edgeops-no-such-package": None}


def test_units_come_back_as_fields(tmp_path, monkeypatch):
    # systemd is not PID 1 here: a stand-in systemctl prints what systemd's does.
    fake = tmp_path / "systemctl"
    fake.write_text("#!/bin/sh\nprintf 'app-server@7001.service loaded active running app server 7001\\n'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", "%s:%s" % (tmp_path, os.environ["PATH"]))
    result = run_module("host_info", {"units": "app-server@*.service"})
    assert result["units"] == [{"name": "app-server@7001.service", "load": "loaded", "active": "active",
                                "sub": "running", "description": "app server 7001", "template": "app-server",
                                "instance": "7001"}]


def test_what_cannot_be_read_fails_naming_it(tmp_path):
    result = run_module("host_info", {"read": [str(tmp_path)]})
    assert result["failed"] is True and str(tmp_path) in result["msg"]
    assert "Traceback" not in result.get("module_stderr", "")


@pytest.mark.parametrize("make", [os.mkfifo, lambda path: os.symlink("/dev/zero", path)])
def test_a_fifo_or_a_device_to_read_fails_naming_it_instead_of_blocking(tmp_path, make):
    state = tmp_path / "upstream_state.json"
    make(str(state))
    started = time.monotonic()
    result = run_module("host_info", {"read": [str(state)]}, timeout=30)
    assert result["failed"] is True
    assert result["msg"].startswith("read[0]: %s is a " % state) and "not a regular file" in result["msg"]
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("args, field", [
    ({"units": "-H"}, "units"),
    ({"units": "-Hroot@127.0.0.1"}, "units"),
    ({"package_manager": "dpkg", "packages": ["dpkg", "--admindir=/nonexistent"]}, "packages[1]"),
])
def test_a_value_that_could_be_an_option_fails_before_any_command(args, field):
    result = run_module("host_info", args, timeout=30)
    assert result["failed"] is True and result["msg"].startswith(field + ": must be ")
    assert "rc" not in result and "stdout" not in result


def test_a_command_past_the_deadline_is_killed_and_named(tmp_path, monkeypatch):
    # A package database that hangs: a dpkg-query first on PATH that sleeps.
    fake = tmp_path / "dpkg-query"
    fake.write_text("#!/bin/sh\nexec sleep 30\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", "%s:%s" % (tmp_path, os.environ["PATH"]))
    started = time.monotonic()
    result = run_module("host_info", {"package_manager": "dpkg", "packages": ["dpkg"], "deadline": 0.5}, timeout=30)
    elapsed = time.monotonic() - started
    assert result["failed"] is True
    assert result["msg"] == "deadline: dpkg-query did not finish within 0.5 s and was killed"
    assert elapsed < 10, elapsed


@pytest.mark.parametrize("deadline", [0, -1, 3601])
def test_a_deadline_out_of_range_is_refused(deadline):
    result = run_module("host_info", {"user": "root", "deadline": deadline}, timeout=30)
    assert result["failed"] is True and result["msg"].startswith("deadline: must be more than 0")


@pytest.mark.skipif(shutil.which("apt-cache") is None, reason="no apt-cache on this machine")
def test_candidates_come_back_as_apt_s_versions_by_name():
    policy = subprocess.run(["apt-cache", "policy", "--", "dpkg"], check=True, capture_output=True, text=True,
                            env=dict(os.environ, LC_ALL="C")).stdout
    candidate = [line.split(":", 1)[1].strip() for line in policy.splitlines() if line.startswith("  Candidate:")]
    result = run_module("host_info", {"package_manager": "dpkg", "candidates": ["dpkg", "edgeops-no-such-package"]})
    assert result["candidates"] == {"dpkg": candidate[0], "edgeops-no-such-package": None}, result
    assert "packages" not in result


def test_candidates_are_read_in_the_c_locale(tmp_path, monkeypatch):
    # apt translates its labels: a stand-in apt-cache answers in German unless LC_ALL=C, as apt would.
    fake = tmp_path / "apt-cache"
    fake.write_text('#!/bin/sh\nif [ "$LC_ALL" = C ]; then label=Candidate; else label=Installationskandidat; fi\n'
                    'printf "nginx:\\n  Installed: (none)\\n  $label: 1.22.1-9+deb12u12\\n"\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", "%s:%s" % (tmp_path, os.environ["PATH"]))
    # A locale this machine has (AnsibleModule resets one it lacks), other than C.
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    result = run_module("host_info", {"package_manager": "dpkg", "candidates": ["nginx"]})
    assert result["candidates"] == {"nginx": "1.22.1-9+deb12u12"}, result
