"""The deploy role's canary access log counter (awk on the load balancer): the
canary's tries and those with status >= 500, read from lines in the role's
log format after a given line."""

import json
import os
import shutil
import subprocess

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CANARY = ["10.0.0.12:7001", "10.0.0.12:7002"]

pytestmark = pytest.mark.skipif(shutil.which("awk") is None, reason="awk is not installed")


def counter():
    with open(os.path.join(ROOT, "roles", "deploy", "vars", "main.yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)["deploy_canary_log_counter"]


def line(upstream, statuses, agent="curl/8.0", status="200"):
    # The role's edgeops_lb format (roles/load_balancer/templates/upstream.conf.j2).
    return ('127.0.0.1 - - [01/Dec/2026:03:00:00 +0000] "GET /roundrobin HTTP/1.1" %s 10 "-" "%s" '
            "upstream=%s upstream_status=%s request_time=0.001 upstream_time=0.001"
            % (status, agent, upstream, statuses))


def count(tmp_path, lines, from_line=0):
    log = tmp_path / "access.log"
    log.write_text("".join(entry + "\n" for entry in lines), encoding="utf-8")
    env = dict(os.environ, CANARY_ADDRESSES=" ".join(CANARY), CANARY_FROM_LINE=str(from_line))
    out = subprocess.run(["awk", counter(), str(log)], env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out)


@pytest.mark.parametrize("lines, expected", [
    ([], {"lines": 0, "answered": 0, "failed": 0}),
    ([line("10.0.0.12:7001", "200"), line("10.0.0.11:7001", "500", status="500")],
     {"lines": 2, "answered": 1, "failed": 0}),
    ([line("10.0.0.12:7001", "500", status="500"), line("10.0.0.12:7002", "502", status="502"),
      line("10.0.0.12:7002", "200")],
     {"lines": 3, "answered": 3, "failed": 2}),
    # nginx tried the canary, then a peer: the canary's try failed, the client got 200.
    ([line("10.0.0.12:7001, 10.0.0.13:7001", "500, 200")], {"lines": 1, "answered": 1, "failed": 1}),
    # A peer first, then the canary answered.
    ([line("10.0.0.13:7001, 10.0.0.12:7002", "502, 200")], {"lines": 1, "answered": 1, "failed": 0}),
    # Two upstreams (an internal redirect): " : " between them.
    ([line("10.0.0.13:7001 : 10.0.0.12:7001", "200 : 503")], {"lines": 1, "answered": 1, "failed": 1}),
    # No upstream at all (a 404 nginx answered itself).
    ([line("-", "-", status="404")], {"lines": 1, "answered": 0, "failed": 0}),
    # A client that writes the fields into its user agent does not count (nginx escapes its quotes).
    ([line("10.0.0.13:7001", "200", agent='x\\x22 upstream=10.0.0.12:7001 upstream_status=500 request_time=0')],
     {"lines": 1, "answered": 0, "failed": 0}),
    # A prefix of a canary address is another server.
    ([line("10.0.0.12:70011", "500")], {"lines": 1, "answered": 0, "failed": 0}),
])
def test_counts(tmp_path, lines, expected):
    assert count(tmp_path, lines) == expected


def test_counts_only_after_the_line_given(tmp_path):
    lines = [line("10.0.0.12:7001", "500")] * 3 + [line("10.0.0.12:7001", "200")] * 2
    assert count(tmp_path, lines, from_line=3) == {"lines": 5, "answered": 2, "failed": 0}
    assert count(tmp_path, lines, from_line=5) == {"lines": 5, "answered": 0, "failed": 0}
