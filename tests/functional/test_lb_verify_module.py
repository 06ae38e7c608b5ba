"""The lb_verify module run as Ansible runs it (JSON on stdin, a child
process): it never crashes, names the field, keeps credentials out, writes
its picture even when a location fails. Nothing listens at the URLs used
here (a free loopback port), so every request fails fast."""

import json
import time

import pytest

from helpers.localnet import free_port
from helpers.processes import run_module, start_app_server
from helpers.report_page import charts, parse, seen_bars
from helpers.special_files import KINDS, not_regular

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


@pytest.mark.parametrize("field", ["config_path", "ca_file"])
@pytest.mark.parametrize("kind", KINDS)
def test_a_file_that_is_not_regular_is_named_in_seconds(tmp_path, field, kind):
    """A FIFO given as config_path blocked the module for ever (open() waits
    for a writer); ca_file the same. The subprocess timeout bounds the test."""
    path = not_regular(tmp_path, kind)
    args = {"url": "https://127.0.0.1:%d" % free_port(), "requests": 1, "timeout": 1, "deadline": 2, field: path}
    if field == "ca_file":
        args["locations"] = [{"path": "/x", "servers": [P1]}]
    started = time.monotonic()
    result = run_module("lb_verify", args, timeout=20)
    assert time.monotonic() - started < 10
    assert result.get("failed") is True and "%s: cannot " % field in result["msg"], result
    assert "not a regular file (%s)" % kind in result["msg"] and "Traceback" not in result["msg"]


CONF = """events {}
http {
    upstream u { %s }
    server { listen 127.0.0.1:%d; location / { proxy_pass http://u; } }
}
"""


@pytest.mark.parametrize("upstream, location, concurrency", [
    ("random; server 127.0.0.1:{app};", {}, 1),                                        # one server, random
    ("server 127.0.0.1:{other} down; server 127.0.0.1:{app} backup;", {}, 1),          # primaries down, backup
    ("least_conn; server 127.0.0.1:{other} down; server 127.0.0.1:{app} backup;", {"slow_backend": "{other}"}, 4),
    ("least_conn; server 127.0.0.1:{other} down; server 127.0.0.1:{app} backup;", {}, 4),
    ("ip_hash; server 127.0.0.1:{app} backup;", {"expect": "ip_hash"}, 1),            # all backup ip_hash
    ("ip_hash; server 127.0.0.1:{app} down;", {"expect": "ip_hash"}, 1),
], ids=["random-one", "primaries-down", "least_conn-slow", "least_conn", "ip_hash-all-backup", "ip_hash-all-down"])
def test_verdicts_with_one_or_no_usable_server_never_crash(tmp_path, upstream, location, concurrency):
    """lb_verify polls the app server directly (it stands for nginx here):
    a verdict whose arithmetic divided by zero or fitted one category
    crashed the module; now each passes or fails naming the location."""
    app, port = start_app_server()
    try:
        other = free_port()
        conf = tmp_path / "nginx.conf"
        conf.write_text(CONF % (upstream.format(app=port, other=other), free_port()))
        spec = {key: value.format(other=other) for key, value in location.items()}
        args = {"url": "http://127.0.0.1:%d" % port, "config_path": str(conf), "requests": 40, "timeout": 2,
                "deadline": 10, "concurrency": concurrency, "clients": 1, "fail_on_mismatch": False,
                "locations": [dict(spec, path="/", upstream="u")]}
        result = run_module("lb_verify", args, timeout=60)
    finally:
        app.kill()
        app.wait(10)
    assert "exception" not in result and not result.get("failed"), result.get("msg")
    found, = result["locations"]
    assert found["counts"] == {"127.0.0.1:%d" % port: 40}, found
    if "down;" in upstream and "backup" not in upstream:
        assert any("upstream u has no usable server" in problem for problem in found["problems"]), found
    else:
        assert found["passed"], found["problems"]
