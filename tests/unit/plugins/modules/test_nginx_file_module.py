"""The nginx_file module in-process, on the paths that need no nginx process
(the tier forbids them): a missing binary, a dry run before nginx is
installed, bad options. The go-live itself: test__golive.py; the module as
Ansible runs it with the host's nginx: tests/functional/test_nginx_file.py."""

import json

import pytest
from helpers.ansible_compat import patch_module_args

from ansible_collections.edgeops.nginx_lb.plugins.modules import nginx_file

MISSING = "edgeops-no-such-nginx"
CONTENT = "upstream a {\n    server 127.0.0.1:7001;\n}\n"


def run(args, capsys):
    with patch_module_args(args), pytest.raises(SystemExit) as exited:
        nginx_file.main()
    return exited.value.code, json.loads(capsys.readouterr().out)


def test_a_missing_binary_fails_before_anything_is_written(tmp_path, capsys):
    dest = tmp_path / "upstream.conf"
    code, result = run({"dest": str(dest), "content": CONTENT, "nginx_binary": MISSING}, capsys)
    assert code == 1 and MISSING in result["msg"], result
    assert not dest.exists()


def test_a_dry_run_before_nginx_is_installed_writes_nothing_and_shows_the_diff(tmp_path, capsys):
    dest = tmp_path / "upstream.conf"
    dest.write_text("old\n")
    code, result = run({"dest": str(dest), "content": CONTENT, "nginx_binary": MISSING,
                        "nginx_conf": str(tmp_path / "nginx.conf"),
                        "_ansible_check_mode": True, "_ansible_diff": True}, capsys)
    assert code == 0 and result["changed"] is True, result
    assert dest.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["upstream.conf"]
    assert result["diff"]["before"] == "old\n" and result["diff"]["after"] == CONTENT


@pytest.mark.parametrize("args, words", [
    ({"kind": "http"}, "kind"),
    ({"fail_on": "never"}, "fail_on"),
    ({"backup": "maybe"}, "backup"),
])
def test_bad_options_are_named(tmp_path, args, words, capsys):
    code, result = run(dict({"dest": str(tmp_path / "x.conf"), "content": CONTENT, "nginx_binary": MISSING},
                            **args), capsys)
    assert code == 1 and words in result["msg"], result
    assert not (tmp_path / "x.conf").exists()
