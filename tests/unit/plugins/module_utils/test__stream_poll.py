"""lb_verify's stream checks without a socket: parameters named, specs
resolved from the model, and the verdict on what a (fake) poll saw."""

import pytest

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model_config import model_from_config
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._nginx_conf import parse
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._report import render
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._stream_poll import (
    StreamPoll, check_streams, resolve_stream, streams_from_model, verify_streams)
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._verify import ParameterError, module_outcome

CONFIG = """stream {
    upstream rr { zone rr 64k; server 127.0.0.1:9101 weight=2; server 127.0.0.1:9102; server 127.0.0.1:9103; }
    upstream h { hash $remote_addr consistent; zone h 64k; server 127.0.0.1:9201; server 127.0.0.1:9202; }
    server { listen 9000; proxy_pass rr; }
    server { listen 127.0.0.2:9053 udp; proxy_pass h; proxy_responses 1; }
    server { listen 9054 udp; proxy_pass 127.0.0.1:53; }
}"""
MODEL = model_from_config(parse(CONFIG, "s.conf"))


def local(host):
    """The backends' host name resolves to loopback (no resolver in a unit test)."""
    return {"127.0.0.1"}


def fake_poller(answers):
    """A poller that answers from `answers(protocol, address, index, source)` (a label, or None for a timeout)."""
    calls = []

    def poller(protocol, address, count, timeout=5.0, deadline_s=120.0, source_address=None):
        calls.append((protocol, address, count, source_address))
        seen = StreamPoll(requests=count, elapsed_s=0.1)
        for index in range(count):
            label = answers(protocol, address, index, source_address)
            if label is None:
                seen.errors["timeout"] = seen.errors.get("timeout", 0) + 1
            else:
                seen.counts[label] = seen.counts.get(label, 0) + 1
                seen.latencies_ms.append(1.0)
        return seen
    poller.calls = calls
    return poller


def swrr_labels(protocol, address, index, source):
    # weights 2,1,1: a b c a ...
    return ["app:9101", "app:9102", "app:9103", "app:9101"][index % 4]


def test_streams_of_a_config_are_the_ones_with_an_upstream():
    assert streams_from_model(MODEL) == [{"name": "rr", "address": "127.0.0.1:9000", "protocol": "tcp"},
                                         {"name": "h", "address": "127.0.0.2:9053", "protocol": "udp"}]


def test_round_robin_with_weights_is_judged_exactly():
    poller = fake_poller(swrr_labels)
    result = verify_streams(MODEL, [{"name": "rr"}], 120, poller=poller, resolve=local)[0]
    assert result.passed, result.problems
    assert result.counts == {"127.0.0.1:9101": 60, "127.0.0.1:9102": 30, "127.0.0.1:9103": 30}
    assert result.expected == result.counts and result.protocol == "tcp" and result.path == "tcp://127.0.0.1:9000"
    assert poller.calls == [("tcp", "127.0.0.1:9000", 120, None)]


def test_weights_given_make_the_same_counts_fail_naming_them():
    result = verify_streams(MODEL, [{"name": "rr", "weights": [1, 1, 1]}], 120, poller=fake_poller(swrr_labels), resolve=local)[0]
    assert result.problems == ["tcp://127.0.0.1:9000: expected 9101:40 9102:40 9103:40, got 9101:60 9102:30 9103:30"]


def test_hash_is_judged_per_client_address_from_127_0_n_1():
    def sticky(protocol, address, index, source):
        return "app:9201" if source.endswith((".1.1", ".3.1")) else "app:9202"

    poller = fake_poller(sticky)
    result = verify_streams(MODEL, [{"name": "h"}], 40, clients=4, poller=poller, resolve=local)[0]
    assert result.passed and result.expectation == "sticky"
    assert [call[3] for call in poller.calls] == ["127.0.1.1", "127.0.2.1", "127.0.3.1", "127.0.4.1"]
    assert result.clients["127.0.2.1"] == {"127.0.0.1:9202": 10}

    def flapping(protocol, address, index, source):
        return "app:920%d" % (1 + index % 2)

    flapped = verify_streams(MODEL, [{"name": "h"}], 40, clients=4, poller=fake_poller(flapping), resolve=local)[0]
    assert "udp://127.0.0.2:9053: client 127.0.1.1 was not sticky: 9201:5 9202:5" in flapped.problems


def test_failures_beyond_max_errors_and_strangers_are_problems():
    def lossy(protocol, address, index, source):
        return None if index == 0 else "other:9999" if index == 1 else swrr_labels(protocol, address, index, source)

    result = verify_streams(MODEL, [{"name": "rr"}], 8, poller=fake_poller(lossy), resolve=local)[0]
    assert "tcp://127.0.0.1:9000: 1 of 8 connections failed (timeout: 1)" in result.problems
    assert any("answers from backends not in upstream rr: other:9999" in p for p in result.problems)
    tolerated = verify_streams(MODEL, [{"name": "rr"}], 8, max_errors=1, tolerance=8, poller=fake_poller(lossy), resolve=local)[0]
    assert not any("failed" in p for p in tolerated.problems)


def test_servers_given_need_no_config():
    from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model import Model

    address, protocol, upstream, error = resolve_stream(
        Model(), {"address": "10.0.0.1:9000", "protocol": "udp", "servers": ["10.0.0.2:1", "10.0.0.3:1"],
                  "weights": [3, 1]}, "streams[0]")
    assert (address, protocol, error) == ("10.0.0.1:9000", "udp", None)
    assert [(s.address, s.weight) for s in upstream.servers] == [("10.0.0.2:1", 3), ("10.0.0.3:1", 1)]


@pytest.mark.parametrize("streams, error", [
    ("rr", "streams: must be a list, got str"),
    ([{}], "streams[0]: give name (a stream of the live config) or address"),
    ([{"name": 5}], "streams[0].name: must be a string, got 5"),
    ([{"address": "127.0.0.1:9000\n"}], "streams[0].address: must be 'host:port'"),
    ([{"name": "rr", "protocol": "sctp"}], "streams[0].protocol: must be one of tcp, udp, got 'sctp'"),
    ([{"name": "rr", "expect": "ip_hash"}], "streams[0].expect: must be one of auto, round_robin, sticky"),
    ([{"name": "rr", "servers": ["x"]}], "streams[0].servers[0]: must be 'host:port', got 'x'"),
    ([{"name": "rr", "servers": []}], "streams[0].servers: must be a non-empty list"),
    ([{"name": "rr", "weights": [0]}], "streams[0].weights[0]: must be 1-1000, got 0"),
    ([{"name": "rr", "weights": "1"}], "streams[0].weights: must be a list of integers"),
])
def test_bad_stream_parameters_are_named(streams, error):
    assert any(e.startswith(error) for e in check_streams(streams)), check_streams(streams)
    with pytest.raises(ParameterError):
        verify_streams(MODEL, streams, 10, poller=fake_poller(swrr_labels), resolve=local)


def test_streams_sit_beside_locations_in_the_result_the_table_and_the_report():
    results = verify_streams(MODEL, [{"name": "rr"}, {"name": "h", "expect": "any"}], 12,
                             poller=fake_poller(swrr_labels), resolve=local)
    outcome = module_outcome([], results)
    assert outcome["locations"] == [] and [s["path"] for s in outcome["streams"]] == \
        ["tcp://127.0.0.1:9000", "udp://127.0.0.2:9053"]
    assert outcome["table"][0].startswith("tcp://127.0.0.1:9000 round_robin ok")
    page = render(results)
    assert "12 connections" in page and "12 datagrams" in page and "tcp://127.0.0.1:9000" in page
