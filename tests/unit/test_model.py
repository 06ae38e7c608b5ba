"""The one model: validation of role input and the read-back from config."""

import copy

import pytest
import yaml

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model import (
    ModelError,
    Server,
    lint,
    listen_errors,
    model_from_config,
    model_from_dict,
    model_from_vars,
    model_to_dict,
    split_address,
)
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._nginx_conf import parse

from paths import ROLES, SEED_UPSTREAM_CONF


def role_defaults():
    with open(ROLES / "load_balancer" / "defaults" / "main.yml") as handle:
        return yaml.safe_load(handle)


def tutorial_vars():
    defaults = role_defaults()
    return copy.deepcopy(defaults["load_balancer_upstreams"]), copy.deepcopy(defaults["load_balancer_locations"])


def test_defaults_reproduce_the_tutorial():
    upstreams, locations = tutorial_vars()
    model = model_from_vars(upstreams, locations)
    with open(SEED_UPSTREAM_CONF) as handle:
        tutorial = model_from_config(parse(handle.read(), "upstream.conf"))
    assert [(u.name, u.method, [(s.address, s.weight) for s in u.servers]) for u in model.upstreams] == \
        [(u.name, u.method, [(s.address, s.weight) for s in u.servers]) for u in tutorial.upstreams]
    assert [(loc.path, loc.upstream) for loc in model.locations] == \
        [(loc.path, loc.upstream) for loc in tutorial.locations]


@pytest.mark.parametrize("mutate, field, words", [
    (lambda u, l: u[4]["servers"][0].update(weight=0), "load_balancer_upstreams[4].servers[0].weight", "1-1000"),
    (lambda u, l: u[4]["servers"][0].update(weight="heavy"), "load_balancer_upstreams[4].servers[0].weight", "integer"),
    (lambda u, l: u[1]["servers"][0].update(address="127.0.0.1:70000"), "load_balancer_upstreams[1].servers[0].address", "1-65535"),
    (lambda u, l: u[1]["servers"][0].update(address="127.0.0.1"), "load_balancer_upstreams[1].servers[0].address", "host:port"),
    (lambda u, l: u[1]["servers"][0].update(address="bad host:80"), "load_balancer_upstreams[1].servers[0].address", "valid host"),
    (lambda u, l: u[1]["servers"][0].update(wieght=2), "load_balancer_upstreams[1].servers[0].wieght", "unknown key"),
    (lambda u, l: u[1].update(method="fastest"), "load_balancer_upstreams[1].method", "one of"),
    (lambda u, l: u[1].update(colour="red"), "load_balancer_upstreams[1].colour", "unknown key"),
    (lambda u, l: u[1].update(servers=[]), "load_balancer_upstreams[1].servers", "non-empty"),
    (lambda u, l: u[1].update(name="leastconn"), "load_balancer_upstreams[2].name", "duplicate upstream"),
    (lambda u, l: u[1].update(method="hash"), "load_balancer_upstreams[1].hash_key", "required"),
    (lambda u, l: u[1].update(two=True), "load_balancer_upstreams[1].two", "only valid with method random"),
    (lambda u, l: u[3]["servers"][0].update(backup=True), "load_balancer_upstreams[3].servers[0].backup", "ip_hash"),
    (lambda u, l: u[1]["servers"].append({"address": "127.0.0.1:7001"}), "load_balancer_upstreams[1].servers[3].address", "duplicate server"),
    (lambda u, l: [s.update(down=True) for s in u[1]["servers"]], "load_balancer_upstreams[1].servers", "no usable server"),
    (lambda u, l: u[1]["servers"][0].update(fail_timeout="soon"), "load_balancer_upstreams[1].servers[0].fail_timeout", "nginx time"),
    (lambda u, l: u[1].update(zone="huge"), "load_balancer_upstreams[1].zone", "size"),
    (lambda u, l: l[0].update(path="proxy"), "load_balancer_locations[0].path", "start with '/'"),
    (lambda u, l: l[0].update(path="/a b"), "load_balancer_locations[0].path", "may only contain"),
    (lambda u, l: l[0].update(upstream="nowhere"), "load_balancer_locations[0].upstream", "undefined upstream"),
    (lambda u, l: l[1].update(path="/proxy"), "load_balancer_locations[1].path", "duplicate location"),
    (lambda u, l: l[0].update(upstrem="x"), "load_balancer_locations[0].upstrem", "unknown key"),
])
def test_bad_input_names_the_field(mutate, field, words):
    upstreams, locations = tutorial_vars()
    mutate(upstreams, locations)
    with pytest.raises(ModelError) as caught:
        model_from_vars(upstreams, locations)
    matching = [e for e in caught.value.errors if e.startswith(field + ":")]
    assert matching, caught.value.errors
    assert words in matching[0]


@pytest.mark.parametrize("value, expected", [(False, False), ("no", False), ("false", False), (0, False),
                                             (True, True), ("yes", True)])
def test_false_means_off(value, expected):
    upstreams, locations = tutorial_vars()
    upstreams[1]["servers"][0]["backup"] = value
    model = model_from_vars(upstreams, locations)
    assert model.upstream("roundrobin").servers[0].backup is expected
    assert ("backup" in model.upstream("roundrobin").servers[0].directive_args()) is expected


def test_defaults_add_zone_and_keepalive_unless_overridden():
    upstreams, locations = tutorial_vars()
    upstreams[2]["zone"] = False
    upstreams[2]["keepalive"] = 0
    model = model_from_vars(upstreams, locations, default_keepalive=16, default_zone="64k")
    assert (model.upstream("roundrobin").zone, model.upstream("roundrobin").keepalive) == ("64k", 16)
    assert (model.upstream("leastconn").zone, model.upstream("leastconn").keepalive) == (None, None)


@pytest.mark.parametrize("raw, args", [
    ({"name": "u", "servers": ["h:1"]}, None),
    ({"name": "u", "method": "least_conn", "servers": ["h:1"]}, ["least_conn"]),
    ({"name": "u", "method": "hash", "hash_key": "$request_uri", "consistent": True, "servers": ["h:1"]},
     ["hash", "$request_uri", "consistent"]),
    ({"name": "u", "method": "random", "two": "yes", "servers": ["h:1"]}, ["random", "two"]),
])
def test_method_line(raw, args):
    model = model_from_vars([raw], [])
    assert model.upstreams[0].method_args() == args


@pytest.mark.parametrize("address, expected", [
    ("127.0.0.1:7001", ("127.0.0.1", 7001)),
    ("app-1.example.org:80", ("app-1.example.org", 80)),
    ("[::1]:7001", ("[::1]", 7001)),
])
def test_split_address(address, expected):
    assert split_address(address) == expected


def test_server_directive_args():
    server = Server("10.0.0.1:80", weight=3, max_fails=2, fail_timeout="5s", max_conns=10, backup=True)
    assert server.directive_args() == ["10.0.0.1:80", "weight=3", "max_fails=2", "fail_timeout=5s",
                                       "max_conns=10", "backup"]


def test_dict_round_trip():
    model = model_from_vars(*tutorial_vars(), default_keepalive=16, default_zone="64k")
    assert model_from_dict(model_to_dict(model)) == model


def test_tutorial_config_lints_its_prefix_stripping():
    with open(SEED_UPSTREAM_CONF) as handle:
        findings = lint(model_from_config(parse(handle.read(), "upstream.conf")))
    stripping = [f for f in findings if f["severity"] == "warning" and "double slash" in f["message"]]
    assert sorted(f["subject"] for f in stripping) == ["/iphash", "/leastconn", "/proxy", "/roundrobin", "/weighted"]
    assert all(f["line"] for f in stripping)
    assert not [f for f in findings if f["severity"] == "error"]


@pytest.mark.parametrize("config, severity, words", [
    ("upstream a { server h:1; } server { location /x/ { proxy_pass http://b; } }", "error", "undefined upstream"),
    ("upstream a { server h:1 down; server h:2 backup; } server { location /x/ { proxy_pass http://a; } }",
     "error", "no usable server"),
    ("upstream a { server h:1; server h:1; } server { location /x/ { proxy_pass http://a; } }",
     "warning", "twice"),
    ("upstream a { server h:1; server h:2 backup; ip_hash; } server { location /x/ { proxy_pass http://a; } }",
     "error", "backup"),
    ("upstream a { server h:1; server h:2; } server { location /x/ { proxy_pass http://a; } }",
     "info", "no zone"),
    ("upstream a { zone a 64k; server h:1; } upstream b { zone b 64k; server h:1; } "
     "server { location /x/ { proxy_pass http://a; } }", "info", "not used"),
])
def test_lint_findings(config, severity, words):
    findings = lint(model_from_config(parse(config, "t.conf")))
    assert any(f["severity"] == severity and words in f["message"] for f in findings), findings


def test_lint_clean_model_has_no_findings():
    config = ("upstream a { zone a 64k; server h:1 weight=2; server h:2; } "
              "server { location = /x { rewrite ^ / break; proxy_pass http://a; } "
              "location /x/ { rewrite ^/x(/.*)$ $1 break; proxy_pass http://a; } }")
    model = model_from_config(parse(config, "t.conf"))
    assert [(loc.path, loc.upstream, loc.strip_prefix) for loc in model.locations] == [("/x", "a", True)]
    assert lint(model) == []


@pytest.mark.parametrize("value, problem", [
    ("80", None), (8080, None), ("127.0.0.1:8080", None), ("[::1]:80", None),
    ("70000", "port must be 1-65535"), ("0", "port must be 1-65535"), ("http", "must be a port or address:port"),
    ("bad host:80", "valid host"), ("127.0.0.1:99999", "port must be 1-65535"),
])
def test_listen_is_a_port_or_address_port(value, problem):
    errors = listen_errors(value)
    if problem is None:
        assert errors == []
    else:
        assert len(errors) == 1 and errors[0].startswith("load_balancer_listen: ") and problem in errors[0]
