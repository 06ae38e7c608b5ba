"""The upstream_server module in-process: it refuses to run without its
action plugin and names the options that exclude each other, before anything
on the host is read. The action plugin: tests/unit/plugins/action/; both as
Ansible runs them: tests/functional/test_upstream_server.py."""

import json

import pytest
from helpers.ansible_compat import patch_module_args

from ansible_collections.edgeops.nginx_lb.plugins.modules import upstream_server


def run(args, capsys):
    with patch_module_args(args), pytest.raises(SystemExit) as exited:
        upstream_server.main()
    return exited.value.code, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("args, words", [
    ({"upstream": ["pool"], "server": "127.0.0.1:7001"}, "runs through its action plugin"),
    ({"upstream": ["pool"], "server": "127.0.0.1:7001", "host": "app1"}, "mutually exclusive: server|host"),
    ({"upstream": ["pool"]}, "one of the following is required: server, host"),
    ({"upstream": ["pool"], "server": "127.0.0.1:7001", "state": "gone"}, "state"),
    ({"server": "127.0.0.1:7001"}, "upstream"),
])
def test_refused_before_anything_is_read(args, words, capsys):
    code, result = run(args, capsys)
    assert code == 1 and result["failed"] and words in result["msg"], result
