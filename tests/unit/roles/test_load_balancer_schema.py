"""The load_balancer role's two schemas agree: meta/argument_specs.yml (what
Ansible checks on entry) and the model (what the lb_model filter accepts)."""

import re

import pytest
import yaml

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model import METHODS
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model_vars import (
    LOCATION_KEYS,
    SERVER_KEYS,
    SITE_VARS,
    UPSTREAM_KEYS,
)

from helpers.paths import ROLES

ROLE = ROLES / "load_balancer"


@pytest.fixture(scope="module")
def options():
    with open(ROLE / "meta" / "argument_specs.yml") as handle:
        return yaml.safe_load(handle)["argument_specs"]["main"]["options"]


def test_upstream_server_and_location_keys_are_the_same(options):
    upstream = options["load_balancer_upstreams"]["options"]
    # `group` is expanded into servers before the model is built.
    assert set(upstream) == set(UPSTREAM_KEYS) | {"group"}
    assert set(upstream["servers"]["options"]) == set(SERVER_KEYS)
    assert set(options["load_balancer_locations"]["options"]) == set(LOCATION_KEYS)


def test_a_server_is_a_dict_in_both(options):
    servers = options["load_balancer_upstreams"]["options"]["servers"]
    assert (servers["type"], servers["elements"]) == ("list", "dict")
    assert servers["options"]["address"]["required"] is True


def test_methods_are_the_same(options):
    assert tuple(options["load_balancer_upstreams"]["options"]["method"]["choices"]) == METHODS


def test_every_server_block_variable_reaches_the_model(options):
    """Each role variable of the server block is passed to the filter by the
    role's model task (tasks/model.yml), under the name the model expects."""
    preflight = (ROLE / "tasks" / "model.yml").read_text()
    passed = re.findall(r"'(load_balancer_[a-z_]+)': (load_balancer_[a-z_]+)", preflight)
    assert passed and all(name == value for name, value in passed)
    assert sorted(name for name, dummy in passed) == sorted(SITE_VARS)
    assert set(SITE_VARS) <= set(options)


def test_the_template_reads_only_the_model():
    template = (ROLE / "templates" / "upstream.conf.j2").read_text()
    used = set(re.findall(r"\b(load_balancer_[a-z_]+)", template))
    assert used == {"load_balancer_model"}


def test_stream_keys_methods_and_protocols_are_the_same(options):
    from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model import STREAM_METHODS, STREAM_PROTOCOLS
    from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model_vars import STREAM_KEYS

    stream = options["load_balancer_streams"]["options"]
    assert set(stream) == set(STREAM_KEYS) | {"group"}
    assert set(stream["servers"]["options"]) == set(SERVER_KEYS)
    assert tuple(stream["method"]["choices"]) == STREAM_METHODS
    assert tuple(stream["protocol"]["choices"]) == STREAM_PROTOCOLS


def test_the_stream_template_reads_only_the_model():
    template = (ROLE / "templates" / "stream.conf.j2").read_text()
    used = set(re.findall(r"\b(load_balancer_[a-z_]+)", template))
    assert used == {"load_balancer_model"}
    assert template.startswith("{{ ansible_managed | comment }}\n")
