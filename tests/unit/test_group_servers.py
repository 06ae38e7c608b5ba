"""Upstream servers from inventory groups."""

import pytest

from ansible_collections.edgeops.nginx_lb.plugins.filter.lb_model import lb_model
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._group_servers import AppHost, expand_groups, reachable_address

from ansible.errors import AnsibleFilterError


@pytest.mark.parametrize("host, lb_host, expected", [
    (AppHost("app1", bind_address="10.0.0.5"), "lb", "10.0.0.5"),
    (AppHost("app1", bind_address="0.0.0.0", ansible_host="172.20.0.3"), "lb", "172.20.0.3"),
    (AppHost("app1", bind_address="0.0.0.0", default_ipv4="172.20.0.4"), "lb", "172.20.0.4"),
    (AppHost("app1", bind_address="0.0.0.0", ansible_host="127.0.0.1", default_ipv4="172.20.0.4"), "lb", "172.20.0.4"),
    (AppHost("app1", bind_address="0.0.0.0"), "lb", "app1"),
    (AppHost("lb", bind_address="127.0.0.1"), "lb", "127.0.0.1"),
    (AppHost("lb", bind_address="0.0.0.0", ansible_host="172.20.0.3"), "lb", "127.0.0.1"),
    (AppHost("app1", bind_address="app1.internal"), "lb", "app1.internal"),
])
def test_reachable_address(host, lb_host, expected):
    assert reachable_address(host, lb_host) == expected


def test_loopback_bound_remote_host_is_an_error():
    with pytest.raises(ValueError, match="app_servers_bind_address"):
        reachable_address(AppHost("app1", bind_address="127.0.0.1"), "lb")


HOSTS = {
    "app1": AppHost("app1", ports=[7001, 7002], bind_address="0.0.0.0", default_ipv4="172.20.0.2", weight=2),
    "app2": AppHost("app2", ports=[7001], bind_address="172.20.0.3"),
}


def test_every_host_gives_each_of_its_ports_with_its_weight():
    upstreams, errors = expand_groups([{"name": "pool", "group": "app", "servers": [{"address": "10.9.9.9:80"}]}],
                                      {"app": ["app1", "app2"]}, HOSTS.__getitem__, "lb")
    assert errors == []
    assert upstreams == [{"name": "pool", "servers": [
        {"address": "10.9.9.9:80"},
        {"address": "172.20.0.2:7001", "weight": 2},
        {"address": "172.20.0.2:7002", "weight": 2},
        {"address": "172.20.0.3:7001", "weight": 1},
    ]}]


@pytest.mark.parametrize("groups, words", [({}, "no inventory group 'app'"), ({"app": []}, "has no hosts")])
def test_missing_group_names_the_field(groups, words):
    dummy, errors = expand_groups([{"name": "pool", "group": "app"}], groups, HOSTS.__getitem__, "lb")
    assert len(errors) == 1 and errors[0].startswith("load_balancer_upstreams[0].group: ")
    assert words in errors[0]


def test_filter_reads_hostvars_and_reports_all_errors():
    hostvars = {
        "app1": {"app_servers_ports": [7001, 7002], "app_servers_bind_address": "0.0.0.0",
                 "ansible_facts": {"default_ipv4": {"address": "172.20.0.2"}}, "app_servers_weight": 3},
        "app2": {"app_servers_bind_address": "127.0.0.1"},
    }
    model = lb_model([{"name": "pool", "group": "app"}], [{"path": "/", "upstream": "pool"}],
                     groups={"app": ["app1"]}, hostvars=hostvars, lb_host="lb")
    assert [(s["address"], s["weight"]) for s in model["upstreams"][0]["servers"]] == \
        [("172.20.0.2:7001", 3), ("172.20.0.2:7002", 3)]
    with pytest.raises(AnsibleFilterError) as caught:
        lb_model([{"name": "pool", "group": "app"}], [{"path": "/", "upstream": "nope"}],
                 groups={"app": ["app2"]}, hostvars=hostvars, lb_host="lb")
    message = str(caught.value)
    assert "load_balancer_upstreams[0].group: host app2 binds its app servers to 127.0.0.1" in message
    assert "load_balancer_locations[0].upstream" in message
