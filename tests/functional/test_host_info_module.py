"""host_info as Ansible runs it (a child process, JSON arguments): real
answers from this machine, and a clear failure naming what it could not read."""

import shutil

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
