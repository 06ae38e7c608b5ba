"""host_info as Ansible runs it (a child process, JSON arguments): real
answers from this machine, and a clear failure naming what it could not read."""

import os
import shutil
import time

import pytest

from helpers.processes import run_module

DPKG = ["dpkg-query", "--show", "--showformat", "${Package} ${db:Status-Abbrev}\n"]


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
def test_package_query_lists_what_is_installed():
    result = run_module("host_info", {"package_query": DPKG, "packages": ["dpkg", "edgeops-no-such-package"]})
    assert result["packages"]["rc"] == 1  # one unknown package: still an answer
    assert "dpkg ii" in result["packages"]["stdout"]


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
    ({"package_query": DPKG, "packages": ["dpkg", "--admindir=/nonexistent"]}, "packages[1]"),
])
def test_a_value_that_could_be_an_option_fails_before_any_command(args, field):
    result = run_module("host_info", args, timeout=30)
    assert result["failed"] is True and result["msg"].startswith(field + ": must be ")
    assert "rc" not in result and "stdout" not in result


def test_a_command_past_the_deadline_is_killed_and_named(tmp_path):
    # `sleep -- 30`: the package query as the module builds it (query, --, packages).
    started = time.monotonic()
    result = run_module("host_info", {"package_query": ["sleep"], "packages": ["30"], "deadline": 1.5}, timeout=30)
    elapsed = time.monotonic() - started
    assert result["failed"] is True
    assert result["msg"] == "deadline: sleep did not finish within 1.5 s and was killed"
    assert elapsed < 10, elapsed


@pytest.mark.parametrize("deadline", [0, -1, 3601])
def test_a_deadline_out_of_range_is_refused(deadline):
    result = run_module("host_info", {"user": "root", "deadline": deadline}, timeout=30)
    assert result["failed"] is True and result["msg"].startswith("deadline: must be more than 0")
