"""The host_info module in-process: every value is checked before the first
command runs (the tier forbids processes, so a command would fail the test),
and a question not asked is not answered. As Ansible runs it:
tests/functional/test_host_info_module.py."""

import json

import pytest
from helpers.ansible_compat import patch_module_args

from ansible_collections.edgeops.nginx_lb.plugins.modules import host_info


def run(args, capsys):
    with patch_module_args(args), pytest.raises(SystemExit) as exited:
        host_info.main()
    return exited.value.code, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("args, field", [
    ({"user": "Root;id"}, "user"),
    ({"group": "-g"}, "group"),
    ({"package_manager": "dpkg", "packages": ["python3", "--admindir=/tmp"]}, "packages[1]"),
    ({"package_manager": "dpkg", "candidates": ["nginx", "-oDir::Etc::sourcelist=/tmp/x"]}, "candidates[1]"),
    ({"units": "-H app@*.service"}, "units"),
    ({"package_manager": "rpm"}, "package_manager"),
    ({"deadline": 0}, "deadline"),
])
def test_bad_values_are_named_before_any_command(args, field, capsys):
    code, result = run(args, capsys)
    assert code == 1 and result["failed"] and field in result["msg"], result


def test_nothing_asked_nothing_answered(capsys):
    code, result = run({}, capsys)
    assert code == 0 and result["changed"] is False
    assert not {"packages", "candidates", "user", "group", "files", "content", "units", "nginx_version"} \
        & set(result), result


def test_a_missing_user_and_a_state_file_are_answered_without_a_command(tmp_path, capsys):
    state = tmp_path / "state.json"
    state.write_text('{"a": 1}')
    code, result = run({"user": "edgeops-no-such-user", "read": [str(state), str(tmp_path / "missing")]}, capsys)
    assert code == 0 and result["user"] is None, result
    assert result["content"] == {str(state): '{"a": 1}', str(tmp_path / "missing"): None}
