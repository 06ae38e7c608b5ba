"""The nginx_validate module in-process, on the paths that end before nginx
runs (the tier forbids processes): a missing binary, check mode without nginx,
options that exclude each other. With nginx: tests/functional/test_nginx_validate_module.py."""

import json

import pytest
from helpers.ansible_compat import patch_module_args

from ansible_collections.edgeops.nginx_lb.plugins.modules import nginx_validate

MISSING = "edgeops-no-such-nginx"


def run(args, capsys):
    with patch_module_args(args), pytest.raises(SystemExit) as exited:
        nginx_validate.main()
    return exited.value.code, json.loads(capsys.readouterr().out)


def test_a_missing_binary_fails_naming_it(capsys):
    code, result = run({"nginx_binary": MISSING}, capsys)
    assert code == 1 and result["failed"] and MISSING in result["msg"], result


def test_check_mode_without_nginx_skips_and_says_what_it_would_test(capsys):
    code, result = run({"nginx_binary": MISSING, "content": "upstream a { server 127.0.0.1:1; }",
                        "name": "/etc/nginx/conf.d/upstream.conf", "_ansible_check_mode": True}, capsys)
    assert code == 0 and result["skipped"] is True and result["changed"] is False, result
    assert "/etc/nginx/conf.d/upstream.conf" in result["msg"] and result["valid"] is None


@pytest.mark.parametrize("args, words", [
    ({"src": "/tmp/a.conf", "content": "x"}, "mutually exclusive: src|content"),
    ({"kind": "http"}, "kind"),
    ({"fail_on": "sometimes"}, "fail_on"),
])
def test_bad_options_are_named(args, words, capsys):
    code, result = run(dict({"nginx_binary": MISSING}, **args), capsys)
    assert code == 1 and words in result["msg"], result
