"""The lb_verify module in-process, for input it must refuse before any
request (the tier forbids sockets: a request would fail the test). The same
module run as Ansible runs it, with requests: tests/functional/test_lb_verify_module.py."""

import json

import pytest
from helpers.ansible_compat import patch_module_args

from ansible_collections.edgeops.nginx_lb.plugins.modules import lb_verify

SERVERS3 = ["127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"]


def run(args, capsys):
    with patch_module_args(args), pytest.raises(SystemExit) as exited:
        lb_verify.main()
    result = json.loads(capsys.readouterr().out)
    return exited.value.code, result


@pytest.mark.parametrize("args, field", [
    ({"locations": [{"path": "/x", "servers": SERVERS3, "weights": [1, 2]}]}, "locations[0].weights: 2 weights for 3 servers"),
    ({"locations": [{"path": "/x", "servers": SERVERS3, "weights": [0, 1, 1]}]}, "locations[0].weights[0]"),
    ({"locations": [{"path": "/x", "servers": ["nohost"]}]}, "locations[0].servers[0]"),
    ({"locations": [{"path": "x", "servers": SERVERS3}]}, "locations[0].path"),
    ({"locations": [{"servers": SERVERS3}]}, "path"),
    ({"locations": "/x"}, "locations"),
    ({"backend_regex": "(", "locations": [{"path": "/x", "servers": SERVERS3}]}, "backend_regex"),
    ({"timeout": 0, "locations": [{"path": "/x", "servers": SERVERS3}]}, "timeout"),
    ({"requests": 0, "locations": [{"path": "/x", "servers": SERVERS3}]}, "requests"),
    ({"concurrency": 100000, "locations": [{"path": "/x", "servers": SERVERS3}]}, "concurrency"),
    ({"url": "ftp://127.0.0.1", "locations": [{"path": "/x", "servers": SERVERS3}]}, "url"),
    ({"url": "http://u:hunter2@127.0.0.1:99999", "locations": [{"path": "/x", "servers": SERVERS3}]}, "url"),
    ({"config_path": "/nonexistent/nginx.conf"}, "config_path"),
], ids=lambda value: None)
def test_bad_input_fails_naming_the_field_before_any_request(args, field, capsys):
    code, result = run(dict({"url": "http://127.0.0.1:8080", "requests": 3, "timeout": 1, "deadline": 5}, **args),
                       capsys)
    assert code == 1 and result["failed"] is True, result
    assert field in result["msg"], result["msg"]
    assert "exception" not in result and "Traceback" not in result["msg"], result
    assert "hunter2" not in json.dumps(result)
