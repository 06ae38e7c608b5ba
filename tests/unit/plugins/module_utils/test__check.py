"""The one check, on a config read back (nginx_validate's lint) and on role input."""

import pytest

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._check import check, lint
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model_config import model_from_config
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model_vars import model_from_vars
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._nginx_conf import parse

from helpers.paths import SEED_UPSTREAM_CONF


def test_tutorial_config_lints_its_prefix_stripping():
    findings = lint(model_from_config(parse(SEED_UPSTREAM_CONF.read_text(), "upstream.conf")))
    stripping = [f for f in findings if f["severity"] == "warning" and "double slash" in f["message"]]
    assert sorted(f["subject"] for f in stripping) == ["/iphash", "/leastconn", "/proxy", "/roundrobin", "/weighted"]
    assert all(f["line"] for f in stripping)
    assert not [f for f in findings if f["severity"] == "error"]


@pytest.mark.parametrize("config, severity, words", [
    ("upstream a { server h:1; } server { location /x/ { proxy_pass http://b; } }", "error", "undefined upstream"),
    ("upstream a { server h:1 down; server h:2 backup; } server { location /x/ { proxy_pass http://a; } }",
     "error", "no usable server"),
    ("upstream a { server h:1; server h:1; } server { location /x/ { proxy_pass http://a; } }",
     "warning", "listed twice"),
    ("upstream a { server 127.0.0.1:1; server 127.0.0.1:01; } server { location /x/ { proxy_pass http://a; } }",
     "warning", "duplicate server 127.0.0.1:1"),
    ("upstream a { server h:1; server h:2 backup; ip_hash; } server { location /x/ { proxy_pass http://a; } }",
     "error", "backup"),
    ("upstream a { server h:1; server h:2; } server { location /x/ { proxy_pass http://a; } }",
     "info", "no zone"),
    ("upstream a { zone a 64k; server h:1; } upstream b { zone b 64k; server h:1; } "
     "server { location /x/ { proxy_pass http://a; } }", "info", "not used"),
    ("upstream a { server h:1 weight=0; } server { location /x/ { proxy_pass http://a; } }", "warning", "1-1000"),
    # nginx matches the normalised request URI: these never match a request.
    ("upstream a { zone a 64k; server h:1; } server { location /x//y { proxy_pass http://a; } }", "warning",
     "normal form"),
    ("upstream a { zone a 64k; server h:1; } server { location /x/../y/ { proxy_pass http://a; } }", "warning",
     "normal form"),
])
def test_lint_findings(config, severity, words):
    findings = lint(model_from_config(parse(config, "t.conf")))
    assert any(f["severity"] == severity and words in f["message"] for f in findings), findings


def test_a_location_path_is_a_duplicate_only_within_its_server_block():
    upstream = "upstream a { zone a 64k; server h:1; } "
    twice = upstream + "server { location /x/ { proxy_pass http://a; } location /x/ { proxy_pass http://a; } }"
    findings = lint(model_from_config(parse(twice, "t.conf")))
    assert [f["severity"] for f in findings] == ["error"] and "duplicate location path '/x/'" in findings[0]["message"]
    # Another server block (another port): its own /x/.
    two_servers = upstream + ("server { listen 80; location /x/ { proxy_pass http://a; } } "
                              "server { listen 8085; location /x/ { proxy_pass http://a; } }")
    assert lint(model_from_config(parse(two_servers, "t.conf"))) == []


def test_lint_clean_model_has_no_findings():
    config = ("upstream a { zone a 64k; server h:1 weight=2; server h:2; } "
              "server { location = /x { rewrite ^ / break; proxy_pass http://a; } "
              "location /x/ { rewrite ^/x(/.*)$ $1 break; proxy_pass http://a; } }")
    model = model_from_config(parse(config, "t.conf"))
    assert [(loc.path, loc.upstream, loc.strip_prefix) for loc in model.locations] == [("/x", "a", True)]
    assert lint(model) == []


def test_a_hand_written_config_may_proxy_to_hosts_and_sockets():
    config = ("upstream a { zone a 64k; server unix:/run/app.sock; server backend; } "
              "server { location /x/ { proxy_pass http://a; } location /y/ { proxy_pass http://$host; } }")
    assert lint(model_from_config(parse(config, "t.conf"))) == []


def test_role_input_and_config_are_judged_in_the_same_words():
    """The filter and nginx_validate's lint say the same thing of the same mistake."""
    upstreams = [{"name": "a", "method": "ip_hash", "servers": [{"address": "h:1"}, {"address": "h:2", "backup": True}]}]
    config = "upstream a { ip_hash; server h:1; server h:2 backup; }"
    from_config = [f for f in check(model_from_config(parse(config, "t.conf"))) if f.severity == "error"]
    assert len(from_config) == 1
    assert from_config[0].message.startswith("nginx does not allow backup with method ip_hash")
    with pytest.raises(ValueError) as caught:
        model_from_vars(upstreams, [])
    assert "load_balancer_upstreams[0].servers[1].backup: " + from_config[0].message in str(caught.value)


# ------------------------------------------------------------ streams

def _stream(**fields):
    stream = {"name": "s", "listen": 9000, "servers": [{"address": "127.0.0.1:9101"}]}
    stream.update(fields)
    return stream


def _stream_errors(streams, upstreams=(), site_vars=None):
    try:
        model_from_vars(list(upstreams), [], site_vars=site_vars, streams=streams)
    except ValueError as exc:
        return exc.errors
    return []


@pytest.mark.parametrize("streams, site_vars, error", [
    ([_stream(listen=80)], {"load_balancer_listen": "80"},
     "load_balancer_streams[0].listen: tcp port 80 is already taken by load_balancer_listen"),
    ([_stream(listen="127.0.0.1:443")], {"load_balancer_listen": "80", "load_balancer_tls": {"mode": "selfsigned"}},
     "load_balancer_streams[0].listen: tcp port 443 is already taken by load_balancer_tls.port"),
    ([_stream(), _stream(name="t", listen="127.0.0.1:9000")], None,
     "load_balancer_streams[1].listen: tcp port 9000 is already taken by load_balancer_streams[0].listen"),
    ([_stream(protocol="udp", method="least_conn")], None,
     "load_balancer_streams[0].method: least_conn compares active connections, which UDP sessions of one datagram "
     "do not hold: use round_robin or hash"),
    ([_stream(protocol="udp", method="random", two=True)], None,
     "load_balancer_streams[0].method: random two compares active connections"),
    ([_stream(protocol="udp", proxy_protocol=True)], None,
     "load_balancer_streams[0].proxy_protocol: is for TCP: a UDP backend cannot read the PROXY header"),
    ([_stream(method="ip_hash")], None, "load_balancer_streams[0].method: must be one of round_robin, least_conn, "
     "hash, random, got 'ip_hash' (the stream module has no ip_hash: use hash with hash_key $remote_addr)"),
    ([_stream(method="hash", hash_key="$request_uri")], None,
     "load_balancer_streams[0].hash_key: uses variables nginx's stream module does not define: $request_uri"),
    ([_stream(method="hash")], None, "load_balancer_streams[0].hash_key: is required with method hash"),
    ([_stream(protocol="sctp")], None, "load_balancer_streams[0].protocol: must be one of tcp, udp, got 'sctp'"),
    ([_stream(listen="9000\n")], None, "load_balancer_streams[0].listen: must be a port, address:port"),
    ([_stream(listen="0")], None, "load_balancer_streams[0].listen: must be a port"),
    ([_stream(proxy_timeout="10 m")], None, "load_balancer_streams[0].proxy_timeout: must be an nginx time"),
    ([_stream(proxy_connect_timeout="2y1s")], None, "load_balancer_streams[0].proxy_connect_timeout: must be"),
    ([_stream(zone="1k")], None, "load_balancer_streams[0].zone: must be 32k-1024m"),
    ([_stream(keepalive=8)], None, "load_balancer_streams[0].keepalive: unknown key"),
    ([_stream(servers=[{"address": "127.0.0.1:9101", "weight": 0}])], None,
     "load_balancer_streams[0].servers[0].weight: must be 1-1000, got 0"),
    ([_stream(method="hash", hash_key="$remote_addr", servers=[{"address": "127.0.0.1:1"},
                                                               {"address": "127.0.0.1:2", "backup": True}])], None,
     "load_balancer_streams[0].servers[1].backup: nginx does not allow backup with method hash"),
    ([_stream(servers=[{"address": "127.0.0.1:1", "down": True}])], None,
     "load_balancer_streams[0].servers: has no usable server"),
    ([_stream(servers=[{"address": "127.0.0.1:1; }"}])], None, "load_balancer_streams[0].servers[0].address"),
    ([_stream(name="roundrobin")], None, "load_balancer_streams[0].name: duplicate upstream name 'roundrobin'"),
    ([_stream(name="a b")], None, "load_balancer_streams[0].name: must be 1-128 letters"),
    ("tcp", None, "load_balancer_streams: must be a list, got str"),
])
def test_stream_input_errors_name_the_field(streams, site_vars, error):
    upstreams = [{"name": "roundrobin", "servers": [{"address": "127.0.0.1:7001"}]}]
    errors = _stream_errors(streams, upstreams, site_vars)
    assert any(e.startswith(error) for e in errors), errors


@pytest.mark.parametrize("streams, site_vars", [
    # Same port, other protocol: no clash (HTTP is TCP).
    ([_stream(listen=80, protocol="udp")], {"load_balancer_listen": "80"}),
    ([_stream(), _stream(name="u", protocol="udp")], None),
    # Same port on two distinct addresses.
    ([_stream(listen="127.0.0.1:9000"), _stream(name="t", listen="127.0.0.2:9000")], None),
    ([_stream(protocol="udp", method="hash", hash_key="$remote_addr", consistent=True)], None),
    ([_stream(method="random", two=True, proxy_protocol=True)], None),
    ([_stream(method="least_conn", zone="128k", proxy_timeout="30s", proxy_connect_timeout="500ms")], None),
])
def test_good_stream_input_passes(streams, site_vars):
    assert _stream_errors(streams, site_vars=site_vars) == []


def test_every_stream_has_a_zone_even_when_the_default_is_off():
    model = model_from_vars([], [], streams=[_stream()], default_zone=None)
    assert model.streams[0].upstream.zone == "64k"
    assert _stream_errors([_stream(zone=False)]) == \
        ["load_balancer_streams[0].zone: is required on a stream (counts are exact only with one balancing state "
         "for all workers)"]


def test_a_stream_config_is_linted_with_the_same_rules():
    config = ("stream { upstream a { server 127.0.0.1:1 down; } upstream b { hash $remote_addr; server h:1; "
              "server h:2 backup; } server { listen 9000; proxy_pass a; } server { listen 9000; proxy_pass b; } "
              "server { listen 9001 udp; proxy_pass 127.0.0.1:53; } }")
    findings = lint(model_from_config(parse(config, "s.conf")))
    messages = [(f["severity"], f["message"]) for f in findings]
    assert ("error", "upstream a.servers: has no usable server (all are backup or down)") in messages
    assert any(severity == "error" and "backup" in text and "hash" in text for severity, text in messages), messages
    assert any(severity == "error" and "tcp port 9000 is already taken" in text for severity, text in messages)
    assert any(severity == "info" and "proxies to no upstream" in text for severity, text in messages)


def test_an_unknown_protocol_is_named_once_and_never_echoed_into_a_clash():
    """The fuzz test found a hostile protocol value (with newlines) repeated
    in the listen clash message of the next stream."""
    hostile = "tcp; }\nserver { listen 18088; }"
    errors = _stream_errors([_stream(protocol=hostile), _stream(name="t", protocol=hostile)])
    assert errors == ["load_balancer_streams[0].protocol: must be one of tcp, udp, got %r" % hostile,
                      "load_balancer_streams[1].protocol: must be one of tcp, udp, got %r" % hostile]
