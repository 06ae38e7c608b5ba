"""Streams end to end on loopback: the role's app server in its TCP and UDP
modes, a private nginx with the stream module in front of them (the stream
block the role's template renders for the same model), and lb_verify's
stream checks - exact round robin and weights per connection and per
datagram, hash $remote_addr sticky per 127.0.N.1 client, a killed TCP
backend skipped by nginx. Loopback only; every server started here is
stopped by its handle or PID; every poll is bounded in count and time."""

import json
import signal
import socket
import subprocess
import threading
from pathlib import Path

import pytest
from jinja2 import Environment

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._render import model_to_dict
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model_config import model_from_config
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model_vars import model_from_vars
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._nginx_conf import parse
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._stream_poll import poll, verify_streams
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._verify import ParameterError, table

from helpers.localnet import NGINX, free_port, wait_for_port
from helpers.paths import ROLES
from helpers.processes import load_app_server, run_module

STREAM_MODULE = Path("/usr/lib/nginx/modules/ngx_stream_module.so")
needs_stream = pytest.mark.skipif(NGINX is None or not STREAM_MODULE.exists(),
                                  reason="nginx or its stream module is not installed (make host-tools)")
N = 20


APP = load_app_server()


def start(mode):
    server = APP.StreamServer(("127.0.0.1", 0), mode)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_the_app_server_answers_one_line_per_connection_and_per_datagram():
    tcp, udp = start("tcp"), start("udp")
    try:
        seen = poll("tcp", "127.0.0.1:%d" % tcp.server_port, 5, timeout=2, deadline_s=10)
        assert seen.counts == {tcp.backend: 5} and seen.errors == {}
        seen = poll("udp", "127.0.0.1:%d" % udp.server_port, 5, timeout=2, deadline_s=10)
        assert seen.counts == {udp.backend: 5} and seen.errors == {}
        # A datagram over 512 bytes is not answered (nothing big is reflected).
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(0.5)
            sock.sendto(b"x" * 600, ("127.0.0.1", udp.server_port))
            with pytest.raises(socket.timeout):
                sock.recv(100)
        assert udp.refused == 1
    finally:
        tcp.shutdown()
        udp.shutdown()


def test_polls_are_bounded_and_name_their_failures():
    refused = poll("tcp", "127.0.0.1:%d" % free_port(), 3, timeout=1, deadline_s=10)
    assert refused.requests == 3 and refused.errors == {"refused": 3}
    silent = poll("udp", "127.0.0.1:%d" % free_port(), 2, timeout=0.2, deadline_s=10)
    assert silent.requests == 2 and sum(silent.errors.values()) == 2 and silent.counts == {}


def render_stream_block(streams):
    """The role's stream template for `streams` (role variables), rendered
    as the role renders it (ansible_managed aside)."""
    source = (ROLES / "load_balancer" / "templates" / "stream.conf.j2").read_text()
    source = source.replace("{{ ansible_managed | comment }}", "# test")
    model = model_from_vars([], [], streams=streams, default_zone="64k")
    return Environment(keep_trailing_newline=True).from_string(source).render(
        load_balancer_model=model_to_dict(model))


@pytest.fixture(scope="module")
def private_streams(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("streams")
    tcp = [start("tcp") for dummy in range(3)]
    udp = [start("udp") for dummy in range(3)]
    ports = {name: free_port() for name in ("rr", "weighted", "hash", "udp_rr", "udp_hash")}

    def servers(backends, weights=(1, 1, 1)):
        return [{"address": "127.0.0.1:%d" % b.server_port, "weight": w} for b, w in zip(backends, weights)]

    streams = [
        {"name": "rr", "listen": "127.0.0.1:%d" % ports["rr"], "servers": servers(tcp)},
        {"name": "weighted", "listen": "127.0.0.1:%d" % ports["weighted"], "servers": servers(tcp, (2, 1, 1)),
         "proxy_connect_timeout": "1s"},
        {"name": "hash", "listen": "127.0.0.1:%d" % ports["hash"], "method": "hash", "hash_key": "$remote_addr",
         "consistent": True, "servers": servers(tcp)},
        {"name": "udp_rr", "listen": "127.0.0.1:%d" % ports["udp_rr"], "protocol": "udp", "servers": servers(udp),
         "proxy_timeout": "2s"},
        {"name": "udp_hash", "listen": "127.0.0.1:%d" % ports["udp_hash"], "protocol": "udp", "method": "hash",
         "hash_key": "$remote_addr", "servers": servers(udp), "proxy_timeout": "2s"},
    ]
    block = render_stream_block(streams).replace("/var/log/nginx/edgeops_stream.access.log",
                                                 str(tmp / "stream.log"))
    (tmp / "edgeops_stream.conf").write_text(block)
    (tmp / "nginx.conf").write_text(
        "pid {tmp}/nginx.pid; error_log {tmp}/error.log; worker_processes 2;\n"
        "include /etc/nginx/modules-enabled/*.conf;\nevents {{ }}\ninclude {tmp}/edgeops_stream.conf;\n"
        .format(tmp=tmp))
    nginx = subprocess.Popen([NGINX, "-c", str(tmp / "nginx.conf"), "-g", "daemon off;"])
    try:
        # Every TCP connect is a pick of its upstream: the readiness probe goes to
        # the hash stream (its picks depend on the address only), never to an
        # upstream whose round robin counts are asserted exactly (a probe on rr
        # once left 81/79/80). nginx opens all its listeners before any worker.
        assert wait_for_port(ports["hash"]), (tmp / "error.log").read_text()
        yield {"tcp": tcp, "udp": udp, "ports": ports, "conf": tmp / "nginx.conf", "tmp": tmp,
               "model": model_from_config(parse(block, "edgeops_stream.conf"))}
    finally:
        nginx.send_signal(signal.SIGTERM)
        nginx.wait(timeout=10)
        for backend in tcp + udp:
            backend.shutdown()


def addresses(backends):
    return ["127.0.0.1:%d" % b.server_port for b in backends]


@needs_stream
def test_tcp_and_udp_round_robin_and_weights_are_exact(private_streams):
    model = private_streams["model"]
    results = verify_streams(model, [{"name": "rr"}, {"name": "weighted"}, {"name": "udp_rr"}], 3 * N * 4,
                             timeout=2, deadline_s=60)
    print("\n".join(table(results)))
    assert all(r.passed for r in results), [r.problems for r in results]
    t1, t2, t3 = addresses(private_streams["tcp"])
    u1, u2, u3 = addresses(private_streams["udp"])
    assert results[0].counts == {t1: 4 * N, t2: 4 * N, t3: 4 * N} and results[0].expected == results[0].counts
    assert results[1].counts == {t1: 6 * N, t2: 3 * N, t3: 3 * N}
    assert results[2].counts == {u1: 4 * N, u2: 4 * N, u3: 4 * N}
    assert [r.path for r in results] == ["tcp://127.0.0.1:%d" % private_streams["ports"]["rr"],
                                         "tcp://127.0.0.1:%d" % private_streams["ports"]["weighted"],
                                         "udp://127.0.0.1:%d" % private_streams["ports"]["udp_rr"]]


@needs_stream
def test_hash_remote_addr_is_sticky_per_client_address(private_streams):
    model = private_streams["model"]
    results = verify_streams(model, [{"name": "hash"}, {"name": "udp_hash"}], 8 * 5, clients=8, timeout=2,
                             deadline_s=60)
    assert all(r.passed for r in results), [r.problems for r in results]
    for result in results:
        assert sorted(result.clients) == ["127.0.%d.1" % n for n in range(1, 9)]
        assert all(len(seen) == 1 and sum(seen.values()) == 5 for seen in result.clients.values()), result.clients
        # Eight client addresses spread over more than one backend.
        assert len(result.counts) > 1, result.counts


@needs_stream
def test_a_wrong_expectation_fails_with_the_counts(private_streams):
    wrong = verify_streams(private_streams["model"], [{"name": "weighted", "weights": [1, 1, 1]}], 120, timeout=2,
                           deadline_s=60)[0]
    t1, t2, t3 = (a.rsplit(":", 1)[1] for a in addresses(private_streams["tcp"]))
    assert wrong.problems == ["tcp://127.0.0.1:%d: expected %s:40 %s:40 %s:40, got %s:60 %s:30 %s:30" % (
        private_streams["ports"]["weighted"], t1, t2, t3, t1, t2, t3)]


@needs_stream
def test_stream_parameters_are_named_before_anything_is_sent(private_streams):
    with pytest.raises(ParameterError) as caught:
        verify_streams(private_streams["model"], [{"name": "nope"}, {"address": "x"}, {"name": "rr", "weights": [1]},
                                                  {"name": "rr", "protocol": "sctp", "expect": "ip_hash"}], 0)
    assert caught.value.errors == [
        "streams[1].address: must be 'host:port', got 'x'",
        "streams[3].protocol: must be one of tcp, udp, got 'sctp'",
        "streams[3].expect: must be one of auto, round_robin, sticky, random, any, got 'ip_hash'",
        "requests: must be 1-1000000, got 0"]
    with pytest.raises(ParameterError) as caught:
        verify_streams(private_streams["model"], [{"name": "nope"}, {"name": "rr", "weights": [1]}], 10)
    assert caught.value.errors[0] == "streams[0].name: no stream 'nope' in the live config (give address)"
    assert caught.value.errors[1].startswith("streams[1].weights: 1 weights for 3 servers (stream rr:")


@needs_stream
def test_the_module_checks_every_stream_of_the_config_and_reports_them(private_streams):
    report = private_streams["tmp"] / "report.html"
    result = run_module("lb_verify", {"config_path": str(private_streams["conf"]), "requests": 48, "clients": 8,
                                      "timeout": 2, "deadline": 60, "report": str(report)})
    assert result["passed"], json.dumps(result, indent=1)[:3000]
    assert result["locations"] == [] and [s["upstream"] for s in result["streams"]] == \
        ["rr", "weighted", "hash", "udp_rr", "udp_hash"]
    assert [s["protocol"] for s in result["streams"]] == ["tcp", "tcp", "tcp", "udp", "udp"]
    assert len(result["table"]) == 5 and result["table"][0].startswith("tcp://")
    page = report.read_text()
    assert "48 connections" in page and "48 datagrams" in page


@needs_stream
def test_a_killed_tcp_backend_is_skipped_by_new_connections(private_streams):
    """nginx's stream proxy_next_upstream (on): a refused connection is retried
    on the next server, the client never sees it. Runs last: it stops a backend."""
    tcp = private_streams["tcp"]
    tcp[2].shutdown()
    gone = poll("tcp", "127.0.0.1:%d" % tcp[2].server_port, 50, timeout=0.1, deadline_s=5)
    assert gone.errors.get("refused"), gone   # refused from some point on: the backend is down
    seen = poll("tcp", "127.0.0.1:%d" % private_streams["ports"]["rr"], 60, timeout=2, deadline_s=60)
    assert seen.errors == {} and seen.requests == 60
    t1, t2, dummy = (b.backend for b in tcp)
    assert set(seen.counts) == {t1, t2} and sum(seen.counts.values()) == 60, seen.counts
