"""Upstream servers re-resolved by DNS (`resolve`, nginx >= 1.27.3) and
load_balancer_resolver: role variables -> model -> check -> nginx's words ->
parsed back to the same model."""

import copy

import pytest

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._check import check
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model import ModelError
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model_config import model_from_config
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model_vars import (
    model_from_record, model_from_vars, record_from_vars)
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._nginx_conf import parse
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._render import model_to_dict, resolver_args, server_args
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._syntax import RESOLVE_NAME_RE, parse_resolver_address

from helpers.paths import role_defaults

UPSTREAMS = [
    {"name": "static", "servers": [{"address": "127.0.0.1:7001"}]},
    {"name": "dyn", "servers": [{"address": "dyn.edgeops.test:7001", "resolve": True, "weight": 2},
                                {"address": "127.0.0.1:7002"}]},
]
LOCATIONS = [{"path": "/static", "upstream": "static"}, {"path": "/dyn", "upstream": "dyn"}]
RESOLVER = {"addresses": ["127.0.0.53", "[::1]:5353"], "valid": "5s", "ipv6": False, "timeout": "2s"}
DYN = "load_balancer_upstreams[1]"


def build(upstreams=None, resolver=None, nginx_version="1.30.6", zone=None):
    return model_from_vars(copy.deepcopy(upstreams or UPSTREAMS), copy.deepcopy(LOCATIONS),
                           resolver=copy.deepcopy(RESOLVER if resolver is None else resolver),
                           nginx_version=nginx_version, default_zone=zone)


def errors_of(**kwargs):
    with pytest.raises(ModelError) as caught:
        build(**kwargs)
    return caught.value.errors


def with_dyn(**changes):
    upstreams = copy.deepcopy(UPSTREAMS)
    upstreams[1].update(changes.pop("upstream", {}))
    upstreams[1]["servers"][0].update(changes)
    return upstreams


# ------------------------------------------------------------ model and render

def test_a_resolve_server_renders_with_its_upstream_s_resolver_and_zone():
    model = build(zone="128k")
    data = model_to_dict(model)
    dyn = data["upstreams"][1]
    assert dyn["servers"][0]["directive_args"] == ["dyn.edgeops.test:7001", "weight=2", "resolve"]
    assert dyn["servers"][1]["directive_args"] == ["127.0.0.1:7002"]
    assert (dyn["zone"], dyn["resolver_args"], dyn["resolver_timeout"]) == \
        ("128k", ["127.0.0.53", "[::1]:5353", "valid=5s", "ipv6=off"], "2s")
    # Only an upstream that re-resolves gets a resolver.
    assert (data["upstreams"][0]["resolver_args"], data["upstreams"][0]["resolver_timeout"]) == (None, None)
    assert "nginx_version" not in data and "resolver" not in data


@pytest.mark.parametrize("resolver, args, timeout", [
    ({"addresses": ["127.0.0.53"]}, ["127.0.0.53", "ipv6=off"], None),
    ({"addresses": ["127.0.0.53"], "ipv6": True}, ["127.0.0.53"], None),
    ({"addresses": "192.0.2.53:5353", "valid": "1m", "ipv6": "yes", "timeout": "500ms"},
     ["192.0.2.53:5353", "valid=1m"], "500ms"),
    # The role's default dict with addresses filled in: empty strings are unset.
    ({"addresses": ["127.0.0.53"], "valid": "", "ipv6": False, "timeout": ""}, ["127.0.0.53", "ipv6=off"], None),
])
def test_resolver_words(resolver, args, timeout):
    dyn = model_to_dict(build(resolver=resolver))["upstreams"][1]
    assert (dyn["resolver_args"], dyn["resolver_timeout"]) == (args, timeout)


@pytest.mark.parametrize("zone_var, default_zone, zone", [
    ({}, None, "64k"),                 # no zone anywhere: resolve gets one
    ({}, "1m", "1m"),                  # load_balancer_zone_size
    ({"zone": "256k"}, None, "256k"),  # the upstream's own
    ({"zone": True}, None, "64k"),
])
def test_a_resolving_upstream_always_has_a_zone(zone_var, default_zone, zone):
    model = build(upstreams=with_dyn(upstream=zone_var), zone=default_zone)
    assert model.upstreams[1].zone == zone


def test_a_host_name_without_resolve_keeps_today_s_rules():
    upstreams = with_dyn(resolve=False)
    model = model_from_vars(upstreams, copy.deepcopy(LOCATIONS), nginx_version="1.22.1")
    assert server_args(model.upstreams[1].servers[0]) == ["dyn.edgeops.test:7001", "weight=2"]
    assert model.upstreams[1].resolver is None


def test_the_record_rebuilds_the_same_model():
    record = record_from_vars(with_dyn(), LOCATIONS, resolver=RESOLVER, nginx_version="1.30.6")
    again = model_from_record(record)
    assert model_to_dict(again) == model_to_dict(build())


# ------------------------------------------------------------ check: named errors

@pytest.mark.parametrize("kwargs, field, words", [
    # No resolver: nothing to ask.
    (dict(resolver={}), DYN + ".servers[0].resolve", "needs load_balancer_resolver"),
    (dict(resolver={"addresses": []}), DYN + ".servers[0].resolve", "needs load_balancer_resolver"),
    # Debian 12's nginx has no resolve.
    (dict(nginx_version="1.22.1"), DYN + ".servers[0].resolve",
     "needs nginx >= 1.27.3 (upstream servers re-resolved by DNS), this host has 1.22.1"),
    (dict(nginx_version="1.27.2"), DYN + ".servers[0].resolve", "this host has 1.27.2"),
    # A name of RFC 1123 labels, nothing after it.
    (dict(upstreams=with_dyn(address="127.0.0.9:7001")), DYN + ".servers[0].address", "resolve needs a host name"),
    (dict(upstreams=with_dyn(address="dyn_x.test:7001")), DYN + ".servers[0].address", "resolve needs a host name"),
    (dict(upstreams=with_dyn(address="-dyn.test:7001")), DYN + ".servers[0].address", "not a host name"),
    (dict(upstreams=with_dyn(address="dyn.test.:7001")), DYN + ".servers[0].address", "resolve needs a host name"),
    (dict(upstreams=with_dyn(address="dyn.test:7001 backup")), DYN + ".servers[0].address", "valid host"),
    (dict(upstreams=with_dyn(address="dyn.test:7001;")), DYN + ".servers[0].address", "port"),
    (dict(upstreams=with_dyn(resolve="sometimes")), DYN + ".servers[0].resolve", "boolean"),
    # resolve needs a zone: turned off, it is named.
    (dict(upstreams=with_dyn(upstream={"zone": False})), DYN + ".zone", "is required with resolve"),
    (dict(upstreams=with_dyn(upstream={"zone": "off"})), DYN + ".zone", "is required with resolve"),
    # The resolver's own fields.
    (dict(resolver={"addresses": ["ns.example.test"]}), "load_balancer_resolver.addresses[0]", "IP address"),
    (dict(resolver={"addresses": ["127.0.0.53:0"]}), "load_balancer_resolver.addresses[0]", "IP address"),
    (dict(resolver={"addresses": ["::1"]}), "load_balancer_resolver.addresses[0]", "IP address"),
    (dict(resolver={"addresses": ["127.0.0.53; evil"]}), "load_balancer_resolver.addresses[0]", "IP address"),
    (dict(resolver={"addresses": ["127.0.0.%d" % n for n in range(1, 18)]}), "load_balancer_resolver.addresses",
     "1-16"),
    (dict(resolver={"addresses": {"a": 1}}), "load_balancer_resolver.addresses", "must be a list"),
    (dict(resolver={"addresses": ["127.0.0.53"], "valid": "500ms"}), "load_balancer_resolver.valid", "nginx time"),
    (dict(resolver={"addresses": ["127.0.0.53"], "valid": "5s;"}), "load_balancer_resolver.valid", "nginx time"),
    (dict(resolver={"addresses": ["127.0.0.53"], "timeout": "soon"}), "load_balancer_resolver.timeout", "nginx time"),
    (dict(resolver={"addresses": ["127.0.0.53"], "ipv6": "maybe"}), "load_balancer_resolver.ipv6", "boolean"),
    (dict(resolver={"addresses": ["127.0.0.53"], "port": 53}), "load_balancer_resolver.port", "unknown key"),
    (dict(resolver=["127.0.0.53"]), "load_balancer_resolver", "must be a dict"),
])
def test_named_errors(kwargs, field, words):
    errors = errors_of(**kwargs)
    assert any(error.startswith(field + ": ") and words in error for error in errors), errors


def test_every_error_at_once_before_anything_changes():
    errors = errors_of(upstreams=with_dyn(address="10.0.0.1:7001", upstream={"zone": False}), resolver={},
                       nginx_version="1.22.1")
    assert [error.split(":")[0] for error in errors] == [
        DYN + ".servers[0].address", DYN + ".servers[0].resolve", DYN + ".servers[0].resolve", DYN + ".zone"]


@pytest.mark.parametrize("version", [None, "", "1.27.3", "1.28.0", "nginx/1.30.6"])
def test_resolve_is_accepted_where_nginx_has_it_or_the_version_is_unknown(version):
    assert build(nginx_version=version).upstreams[1].resolves


@pytest.mark.parametrize("resolver", [None, {}, {"addresses": [], "valid": "", "ipv6": False, "timeout": ""},
                                      {"addresses": None, "valid": None, "ipv6": None, "timeout": None}])
def test_no_addresses_is_no_resolver(resolver):
    model = model_from_vars(copy.deepcopy(UPSTREAMS[:1]), copy.deepcopy(LOCATIONS[:1]), resolver=resolver)
    assert model.resolver is None


def test_the_role_s_default_resolver_is_none():
    default = role_defaults()["load_balancer_resolver"]
    assert model_from_vars(copy.deepcopy(UPSTREAMS[:1]), copy.deepcopy(LOCATIONS[:1]), resolver=default).resolver is None


def test_a_resolver_without_resolve_servers_is_still_checked():
    with pytest.raises(ModelError) as caught:
        model_from_vars([copy.deepcopy(UPSTREAMS[0])], [LOCATIONS[0]], resolver={"addresses": ["ns.test"]})
    assert caught.value.errors[0].startswith("load_balancer_resolver.addresses[0]: ")


@pytest.mark.parametrize("name, ok", [
    ("dyn.edgeops.test", True), ("app", True), ("a-b.c-d", True), ("123.example", True), ("a" * 63 + ".test", True),
    ("1.2.3.4", False), ("x.123", False), ("a" * 64 + ".test", False), ("-a.test", False), ("a-.test", False),
    ("a..test", False), ("a.test.", False), ("a_b.test", False), ("a.test\n", False), ("a test", False), ("", False),
    (".".join(["abcdefghi"] * 26), False),  # 259 characters
])
def test_resolve_names_are_rfc_1123(name, ok):
    assert bool(RESOLVE_NAME_RE.match(name)) is ok


@pytest.mark.parametrize("text, normalised", [
    ("127.0.0.53", "127.0.0.53"), ("127.0.0.53:5353", "127.0.0.53:5353"), ("[::1]", "[::1]"),
    ("[0:0::1]:53", "[::1]:53"), ("::1", None), ("ns.test", None), ("127.0.0.53:", None), ("127.0.0.53:65536", None),
    ("[::1]:x", None), ("[fe80::1%eth0]", None), ("1.2.3.4 5.6.7.8", None),
])
def test_resolver_addresses(text, normalised):
    if normalised is None:
        with pytest.raises(ValueError):
            parse_resolver_address(text)
    else:
        assert parse_resolver_address(text) == normalised


# ------------------------------------------------------------ parsed back

RENDERED = """
upstream dyn {
    zone dyn 64k;
    resolver 127.0.0.53 [::1]:5353 valid=5s ipv6=off;
    resolver_timeout 2s;
    server dyn.edgeops.test:7001 weight=2 resolve;
    server 127.0.0.1:7002;
}
server { listen 80; location /dyn/ { proxy_pass http://dyn; } }
"""


def test_a_rendered_upstream_reads_back_as_the_model_it_came_from():
    read = model_from_config(parse(RENDERED, "upstream.conf")).upstream("dyn")
    built = build().upstream("dyn")
    assert read.servers == built.servers
    assert (read.zone, read.resolver.addresses, read.resolver.valid, read.resolver.ipv6, read.resolver.timeout) == \
        ("64k", ["127.0.0.53", "[::1]:5353"], "5s", False, "2s")
    assert resolver_args(read.resolver) == resolver_args(built.resolver)


@pytest.mark.parametrize("config, severity, words", [
    # nginx's own default is ipv6=on; no valid: the records' TTL.
    ("upstream u { zone u 64k; resolver 10.0.0.53; server a.test:1 resolve; }", None, None),
    # nginx refuses these two; the lint says why in the collection's words.
    ("upstream u { resolver 10.0.0.53; server a.test:1 resolve; }", "error", "is required with resolve"),
    ("upstream u { zone u 64k; resolver ns.test; server a.test:1 resolve; }", "warning", "IP address"),
])
def test_the_lint_of_a_config(config, severity, words):
    model = model_from_config(parse(config + " server { location /u/ { proxy_pass http://u; } }", "t.conf"))
    upstream = model.upstreams[0]
    assert upstream.resolves and upstream.resolver.ipv6 is True and upstream.resolver.valid is None
    found = [f for f in check(model) if f.severity in ("error", "warning")]
    if severity is None:
        assert found == []
    else:
        assert [(f.severity, words in f.message) for f in found] == [(severity, True)], found
