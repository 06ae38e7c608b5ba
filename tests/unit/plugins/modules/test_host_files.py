"""The host_files module in-process: whatever fails, the failure names the
entries already applied - a check before any change, a refusal on the host,
and one of AnsibleModule's setters failing through its own fail_json. As
Ansible runs it: tests/functional/test_host_files_module.py."""

import json
import os

import pytest
from ansible.module_utils.basic import AnsibleModule
from helpers.ansible_compat import patch_module_args

from ansible_collections.edgeops.nginx_lb.plugins.modules import host_files


def run(args, capsys):
    with patch_module_args(args), pytest.raises(SystemExit) as exited:
        host_files.main()
    return exited.value.code, json.loads(capsys.readouterr().out)


REAL_SET_MODE = AnsibleModule.set_mode_if_different


def chmod_fails_on_the_last(module, path, mode, changed, diff=None, expand=True):
    if os.path.basename(path) == "last.conf":
        module.fail_json(path=path, msg="chmod failed")
    return REAL_SET_MODE(module, path, mode, changed, diff=diff, expand=expand)


@pytest.mark.parametrize("break_it, last, message, applied", [
    # Refused by the checks: nothing applied.
    (None, {"content": "x = 1\n", "owner": "no-such-user-edgeops"}, "no such user 'no-such-user-edgeops'", []),
    # A directory where the file should be: the two entries before it stay applied.
    ("directory", {"content": "x = 1\n"}, "is a directory, a file was asked for", ["first.txt", "current"]),
    # A setter of AnsibleModule fails through fail_json: the entries before it still named.
    ("chmod", {"content": "x = 1\n", "mode": "0600"}, "chmod failed", ["first.txt", "current"]),
])
def test_a_failure_names_the_entries_already_applied(tmp_path, monkeypatch, capsys, break_it, last, message, applied):
    if break_it == "directory":
        (tmp_path / "last.conf").mkdir()
    if break_it == "chmod":
        monkeypatch.setattr(AnsibleModule, "set_mode_if_different", chmod_fails_on_the_last)
    files = [{"path": str(tmp_path / "first.txt"), "content": "first file\n"},
             {"path": str(tmp_path / "current"), "src": "first.txt"},
             dict(last, path=str(tmp_path / "last.conf"))]
    code, result = run({"files": files}, capsys)
    assert code == 1 and result["failed"] is True and message in result["msg"]
    assert result["changed_paths"] == [str(tmp_path / name) for name in applied]
    assert result["changed"] is bool(applied)
    assert os.path.exists(tmp_path / "first.txt") is bool(applied)
