"""The upstream state file applied to the model (apply_overrides through
model_from_vars / model_from_record): drained and disabled servers down,
weights replaced, every wrong entry named, entries for servers that are gone
ignored with a warning, and the one check still judging the result."""

import pytest

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model import ModelError
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model_vars import (model_from_record, model_from_vars,
                                                                                   record_from_vars)

UPSTREAMS = [{"name": "pool", "servers": [{"address": "10.0.0.11:7001"}, {"address": "10.0.0.12:7001", "weight": 2}]}]
LOCATIONS = [{"path": "/pool", "upstream": "pool"}]


def build(overrides, warnings=None):
    model = model_from_vars(UPSTREAMS, LOCATIONS, overrides=overrides, warnings=warnings)
    return [(s.address, s.weight, s.down) for s in model.upstream("pool").servers]


@pytest.mark.parametrize("overrides, expected", [
    (None, [("10.0.0.11:7001", 1, False), ("10.0.0.12:7001", 2, False)]),
    ({}, [("10.0.0.11:7001", 1, False), ("10.0.0.12:7001", 2, False)]),
    ({"upstreams": {}}, [("10.0.0.11:7001", 1, False), ("10.0.0.12:7001", 2, False)]),
    ({"upstreams": {"pool": {"10.0.0.12:7001": {"state": "drained"}}}},
     [("10.0.0.11:7001", 1, False), ("10.0.0.12:7001", 2, True)]),
    ({"upstreams": {"pool": {"10.0.0.11:7001": {"state": "disabled", "weight": 7}}}},
     [("10.0.0.11:7001", 7, True), ("10.0.0.12:7001", 2, False)]),
    ({"upstreams": {"pool": {"10.0.0.12:7001": {"weight": "5"}}}},
     [("10.0.0.11:7001", 1, False), ("10.0.0.12:7001", 5, False)]),
])
def test_overrides_applied(overrides, expected):
    assert build(overrides) == expected


@pytest.mark.parametrize("overrides, words", [
    ({"upstreams": {"pool": {"10.0.0.12:7001": {"weight": 0}}}}, "weight: must be 1-1000, got 0"),
    ({"upstreams": {"pool": {"10.0.0.12:7001": {"weight": "heavy"}}}},
     "upstream_state.json: upstreams.pool[10.0.0.12:7001].weight: must be an integer"),
    ({"upstreams": {"pool": {"10.0.0.12:7001": {"state": "gone"}}}},
     "upstream_state.json: upstreams.pool[10.0.0.12:7001].state: must be one of drained, disabled"),
    ({"upstreams": {"pool": {"10.0.0.12:7001": {"colour": "red"}}}},
     "upstream_state.json: upstreams.pool[10.0.0.12:7001].colour: unknown key"),
    ({"upstreams": {"pool": {"10.0.0.12:7001": "down"}}},
     "upstream_state.json: upstreams.pool[10.0.0.12:7001]: must be a dict"),
    ({"upstreams": {"pool": ["10.0.0.12:7001"]}}, "upstream_state.json: upstreams.pool: must be a dict"),
    ({"upstreams": []}, "upstream_state.json: must be a dict with an 'upstreams' dict"),
    ("drained", "upstream_state.json: must be a dict"),
    # The one check judges the result: no usable server left.
    ({"upstreams": {"pool": {"10.0.0.11:7001": {"state": "drained"}, "10.0.0.12:7001": {"state": "disabled"}}}},
     "load_balancer_upstreams[0].servers: has no usable server"),
])
def test_wrong_overrides_are_named(overrides, words):
    with pytest.raises(ModelError) as caught:
        build(overrides)
    assert any(words in error for error in caught.value.errors), caught.value.errors


def test_overrides_of_servers_that_are_gone_are_ignored_with_a_warning():
    warnings = []
    overrides = {"upstreams": {"pool": {"10.0.0.13:7001": {"state": "drained"}}, "old": {"x:1": {"weight": 2}}}}
    assert build(overrides, warnings) == [("10.0.0.11:7001", 1, False), ("10.0.0.12:7001", 2, False)]
    assert warnings == [
        "upstream_state.json: upstreams.old: no upstream old in the role's variables; its overrides are ignored",
        "upstream_state.json: upstreams.pool[10.0.0.13:7001]: no such server in the upstream's variables; "
        "its override is ignored"]


def test_a_record_builds_the_same_model_as_the_variables():
    record = record_from_vars(UPSTREAMS, LOCATIONS, default_keepalive=64, default_zone="64k")
    overrides = {"upstreams": {"pool": {"10.0.0.12:7001": {"state": "drained"}}}}
    assert model_from_record(record, overrides) == model_from_vars(UPSTREAMS, LOCATIONS, default_keepalive=64,
                                                                   default_zone="64k", overrides=overrides)
    with pytest.raises(ModelError, match="model record: must be a dict"):
        model_from_record([])


@pytest.mark.parametrize("sticky, version, state, drain, down", [
    # nginx's own drain: a sticky upstream on an nginx that has it.
    ({"cookie": "srv"}, "1.30.6", "drained", True, False),
    ({"cookie": "srv"}, "1.29.6", "drained", True, False),
    # The current behaviour elsewhere: down.
    ({"cookie": "srv"}, "1.30.6", "disabled", False, True),
    (None, "1.30.6", "drained", False, True),
    ({"cookie": "srv"}, None, "drained", False, True),
])
def test_drained_is_nginx_s_drain_only_on_a_sticky_upstream_of_an_nginx_that_has_it(
        sticky, version, state, drain, down):
    upstream = {"name": "app", "servers": [{"address": "127.0.0.1:7001"}, {"address": "127.0.0.1:7002"}]}
    if sticky:
        upstream["sticky"] = sticky
    model = model_from_vars([upstream], [], nginx_version=version,
                            overrides={"upstreams": {"app": {"127.0.0.1:7002": {"state": state}}}})
    server = model.upstreams[0].servers[1]
    assert (server.drain, server.down, server.usable) == (drain, down, False)
