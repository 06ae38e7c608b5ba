"""The lb_verify module run as Ansible runs it (JSON on stdin, a child
process): it never crashes, names the field, keeps credentials out, writes
its picture even when a location fails. Nothing listens at the URLs used
here (a free loopback port), so every request fails fast."""

import json

import pytest

from helpers.localnet import free_port
from helpers.processes import run_module
from helpers.report_page import charts, parse, seen_bars

P1, P2, P3 = "127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"
SERVERS3 = [P1, P2, P3]


@pytest.mark.parametrize("args, field", [
    ({"locations": [{"path": "/x", "servers": SERVERS3, "weights": [1, 2]}]},
     "locations[0].weights: 2 weights for 3 servers"),
    ({"locations": [{"path": "/x", "servers": SERVERS3, "weights": [0, 1, 1]}]}, "locations[0].weights[0]"),
    ({"locations": [{"path": "/x", "servers": SERVERS3, "weights": ["heavy", 1, 1]}]}, "weights"),
    ({"locations": [{"path": "/x", "servers": ["nohost"]}]}, "locations[0].servers[0]"),
    ({"locations": [{"path": "x", "servers": SERVERS3}]}, "locations[0].path"),
    ({"locations": [{"servers": SERVERS3}]}, "path"),
    ({"locations": ["just a string"]}, "locations"),
    ({"locations": "/x"}, "locations"),
    ({"backend_regex": "(", "locations": [{"path": "/x", "servers": SERVERS3}]}, "backend_regex"),
    ({"backend_regex": "no group", "locations": [{"path": "/x", "servers": SERVERS3}]}, "backend_regex"),
    ({"timeout": 0}, "timeout"),
    ({"timeout": "nan"}, "timeout"),
    ({"timeout": "soon"}, "timeout"),
    ({"deadline": -5}, "deadline"),
    ({"requests": 0}, "requests"),
    ({"requests": 10 ** 12}, "requests"),
    ({"concurrency": 100000}, "concurrency"),
    ({"clients": 1000}, "clients"),
    ({"url": "ftp://127.0.0.1"}, "url"),
    ({"url": "http://127.0.0.1:99999"}, "url"),
    ({"url": "http://"}, "url"),
    ({"backend_header": ""}, "backend_header"),
    ({"config_path": "/nonexistent/nginx.conf"}, "config_path"),
    ({"config_path": "/"}, "config_path"),
    ({"config_path": "/etc/hostname"}, "config_path"),
], ids=lambda value: None)
def test_module_fails_cleanly_naming_the_field(args, field):
    if "locations" not in args and "config_path" not in args:
        args = dict(args, locations=[{"path": "/x", "servers": SERVERS3}])
    args = dict({"url": "http://127.0.0.1:%d" % free_port(), "requests": 3, "timeout": 1, "deadline": 5}, **args)
    result = run_module("lb_verify", args, timeout=30)
    assert result.get("failed") is True, result
    assert field in result["msg"], result["msg"]
    assert "MODULE FAILURE" not in result["msg"] and "Traceback" not in result["msg"]
    assert "exception" not in result, result.get("exception")


def test_module_keeps_credentials_out_of_result_table_and_report(tmp_path):
    backends = [free_port()]
    report = tmp_path / "r.html"
    url = "http://operator:hunter2secret@127.0.0.1:%d" % backends[0]
    args = {"url": url, "requests": 2, "timeout": 1, "deadline": 5, "report": str(report),
            "locations": [{"path": "/x", "servers": ["127.0.0.1:%d" % backends[0]]}]}
    result = run_module("lb_verify", args)
    assert result["failed"] and result["report"] == str(report)
    page = report.read_text()
    assert "polled http://127.0.0.1:%d" % backends[0] in page
    for secret in ("hunter2secret", "operator:"):
        assert secret not in page
        assert secret not in json.dumps(result)


def test_module_check_mode_predicts_the_report_as_a_change(tmp_path):
    args = {"url": "http://127.0.0.1:%d" % free_port(), "requests": 2, "timeout": 1, "deadline": 5,
            "fail_on_mismatch": False, "report": str(tmp_path / "r.html"), "_ansible_check_mode": True,
            "locations": [{"path": "/x", "servers": [P1]}]}
    result = run_module("lb_verify", args)
    assert result["changed"] is True and "report" not in result and not (tmp_path / "r.html").exists()
    assert result["locations"][0]["failed"] == 2


def test_module_writes_the_report_even_when_a_location_fails(tmp_path):
    """No backend listens: the location fails, the picture says so."""
    report = tmp_path / "r.html"
    args = {"url": "http://127.0.0.1:%d" % free_port(), "requests": 3, "timeout": 1, "report": str(report),
            "locations": [{"path": "/x", "servers": ["127.0.0.1:7001"]}]}
    result = run_module("lb_verify", args)
    assert result["failed"] and result["report"] == str(report) and result["changed"]
    svg, = charts(report.read_text())
    assert seen_bars(svg) == []
    text = "".join(parse(report.read_text()).itertext())
    assert "FAIL" in text and "no responses" in text and "3 of 3 requests failed" in text
    checked = run_module("lb_verify", dict(args, report=str(tmp_path / "check.html"), _ansible_check_mode=True))
    assert "report" not in checked and not (tmp_path / "check.html").exists()
