"""nginx -t's output as data: `[level] message in file:line` lines, any byte
in them made text. The runner is a stand-in: nothing is started here (the
real nginx -t runs in tests/functional/test_nginx_validate_module.py)."""

import json

import pytest

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._nginx_check import parse_messages, run_nginx_test


def _all_text(value):
    """json.dumps(ensure_ascii=False) + encode: fails on a surrogate-escaped byte."""
    json.dumps(value, ensure_ascii=False).encode("utf-8")
    return True


@pytest.mark.parametrize("line, expected", [
    ('nginx: [emerg] unknown directive "foo" in /etc/nginx/conf.d/x.conf:3',
     {"level": "emerg", "message": 'unknown directive "foo"', "file": "/etc/nginx/conf.d/x.conf", "line": 3}),
    ('2026/11/25 05:25:13 [emerg] 13408#13408: host not found in upstream "nope.invalid:80" in /tmp/c.conf:1',
     {"level": "emerg", "message": 'host not found in upstream "nope.invalid:80"', "file": "/tmp/c.conf", "line": 1}),
    ('nginx: [warn] conflicting server name "_" on 0.0.0.0:80, ignored',
     {"level": "warn", "message": 'conflicting server name "_" on 0.0.0.0:80, ignored', "file": None, "line": None}),
    ("nginx: configuration file /etc/nginx/nginx.conf test is successful", None),
])
def test_parse_messages(line, expected):
    assert parse_messages(line) == ([expected] if expected else [])


def test_a_runner_that_hands_back_surrogate_escaped_text_gives_plain_text():
    """AnsibleModule.run_command hands back text with surrogate-escaped bytes."""
    result = run_nginx_test("x.conf", runner=lambda argv: (1, "", b"nginx: [emerg] bad \xe9 in /x/a.conf:3".decode("utf-8", "surrogateescape")))
    assert result.errors == [{"level": "emerg", "message": "bad \\xe9", "file": "/x/a.conf", "line": 3}]
    assert _all_text(result.output)
