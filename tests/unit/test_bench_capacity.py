"""benchmarks/capacity.py's pure parts: what it reads from openssl s_time,
stub_status and wrk, the verdict it gives and the table it writes."""

import importlib.util

import pytest

from helpers.paths import ROOT

_SPEC = importlib.util.spec_from_file_location("capacity", ROOT / "benchmarks" / "capacity.py")
capacity = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(capacity)

# capacity.py s_time's output (OpenSSL 3.0's s_time, shortened: one mark per
# connection), then the wall time it measured.
S_TIME_NEW = """Collecting connection statistics for 2 seconds
*****************************************
******

47 connections in 0.06s; 783.33 connections/user sec, bytes read 13583
47 connections in 3 real seconds, 289 bytes read per connection


WALL 2.350
"""
S_TIME_REUSE = """

Now timing with session id reuse.
starting
rrrrrrrrrrrrrrrrrrrrrrrr
rrr

27 connections in 0.02s; 1350.00 connections/user sec, bytes read 7803
27 connections in 3 real seconds, 289 bytes read per connection


WALL 2.250
"""


@pytest.mark.parametrize("text, per_s, resumed, marks", [
    (S_TIME_NEW, 47 / 2.35, 0, 47),        # per second of wall time, not of s_time's whole seconds
    (S_TIME_REUSE, 27 / 2.25, 27, 27),
])
def test_s_time_output_is_read(text, per_s, resumed, marks):
    parsed = capacity.parse_s_time(text)
    assert parsed["per_s"] == pytest.approx(per_s)
    assert (parsed["resumed"], parsed["marks"]) == (resumed, marks)


@pytest.mark.parametrize("text", ["connect: Connection refused\nconnect:errno=111\nWALL 0.010\n",
                                  S_TIME_NEW.replace("WALL 2.350", "")])
def test_s_time_output_without_its_count_or_wall_time_is_an_error(text):
    with pytest.raises(ValueError, match="real seconds"):
        capacity.parse_s_time(text)


@pytest.mark.parametrize("text, count", [
    ("Active connections: 10001 \nserver accepts handled requests\n 1 1 1 \n", 10001),
    ("Active connections: 1\n", 1),
])
def test_stub_status_is_read(text, count):
    assert capacity.parse_stub_status(text) == count


@pytest.mark.parametrize("text", ["<html>404</html>", "Active connections: many\n", " Active connections: 3\n"])
def test_anything_else_than_stub_status_is_an_error(text):
    with pytest.raises(ValueError, match="stub_status"):
        capacity.parse_stub_status(text)


def wrk(requests, status=0, read=0, p50=500, p99=90000, duration=25_000_000):
    return {"requests": requests, "duration_us": duration, "bytes": 0, "connect": 0, "read": read, "write": 0,
            "status": status, "timeout": 0, "p50_us": p50, "p90_us": p99, "p99_us": p99, "max_us": p99,
            "mean_us": p50}


def test_the_wrk_runs_of_one_hold_are_added_up():
    samples = [(5.0, 10000), (6.0, 9999), (25.1, 10000)]
    second = wrk(10000, status=4, read=2, p50=1500, p99=120000, duration=20_000_000)
    result = capacity.summary([wrk(30000), second], samples, 10000, 20)
    assert result["requests"] == 40000 and result["failed"] == 6
    assert result["errors"] == {"connect": 0, "read": 2, "write": 0, "timeout": 0, "non2xx": 4}
    assert result["rps"] == pytest.approx((40000 - 4) / 25.0)          # 2xx over the longest run
    assert result["p50_ms"] == pytest.approx((500 * 30000 + 1500 * 10000) / 40000 / 1000)
    assert result["p99_ms"] == 120.0                                   # the worst run's
    assert (result["open_min"], result["open_max"], result["span_s"]) == (9999, 10000, 20.1)
    assert result["samples_missing"] == 0


def test_a_sample_nginx_did_not_answer_is_counted_not_taken_as_held():
    result = capacity.summary([wrk(30000)], [(5.0, 10000), (6.0, None), (25.1, 10000)], 10000, 20)
    assert (result["samples"], result["samples_missing"], result["open_min"]) == (3, 1, 10000)
    target, = capacity.targets({"hold": {"ours": result}})
    assert target["met"] is False


def hold(open_min=10000, span=20.1, failed=0):
    return {"connections": 10000, "hold_s": 20, "open_min": open_min, "open_max": 10000, "span_s": span,
            "samples": 21, "failed": failed, "rps": 2000.0, "p50_ms": 0.4, "p99_ms": 98.0, "max_ms": 300.0,
            "errors": {"connect": 0, "read": failed, "write": 0, "timeout": 0, "non2xx": 0}}


@pytest.mark.parametrize("ours, met", [
    (hold(), True),
    (hold(failed=1), False),                 # one failed request
    (hold(open_min=9999), False),            # one connection short at some sample
    (hold(span=19.0), False),                # not held long enough
])
def test_the_target_needs_every_connection_held_and_no_error(ours, met):
    target, = capacity.targets({"hold": {"ours": ours}})
    assert target["met"] is met
    assert target["target"] == "10,000 connections held ≥ 20 s, 0 errors"


def test_the_report_shows_both_nginx_confs_the_tls_ratio_and_the_handshakes():
    run = {"rps": 20000.0, "p50_ms": 0.5, "p99_ms": 3.0, "non2xx": 0, "errors": 0}
    cap = {"limits": {"container_nofile_hard": 20000, "nginx_worker_nofile": "20000", "worker_connections": "20480"},
           "hold": {"ours": hold(), "stock": hold(open_min=913, failed=67104)},
           "tls": {"http": {"16": run, "256": dict(run, rps=18000.0)},
                   "https": {"16": dict(run, rps=15000.0), "256": dict(run, rps=9000.0)},
                   "ratio": {"16": 0.75, "256": 0.5}},
           "handshakes": [{"version": "TLS 1.3", "new": {"per_s": 700.0, "connections": 3500},
                           "reuse": {"per_s": 900.0, "connections": 4500, "resumed": 4500}}]}
    text = capacity.report({"capacity": cap}, "{:,.0f}".format, "{:.2f}".format)
    assert "| the collection's | 10,000–10,000 | 2,000 | 0.40 | 98.00 | **0** |" in text
    assert "| Debian's stock (worker_connections 768) | 913–10,000 |" in text and "**67,104**" in text
    assert "| 16 | 20,000 | 3.00 | 15,000 | 3.00 | **0.75** | 0 |" in text
    assert "| 256 | 18,000 | 3.00 | 9,000 | 3.00 | **0.50** | 0 |" in text
    assert "| TLS 1.3 | 700 | 900 | 4500 of 4500 | 1.3× |" in text


def test_no_capacity_data_no_section():
    assert capacity.report({}, str, str) == ""
