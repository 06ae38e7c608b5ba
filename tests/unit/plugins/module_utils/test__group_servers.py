"""The one published value: what an app host offers, and the servers a load balancer makes of it."""

import pytest

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._group_servers import endpoints, expand_groups, servers_of


@pytest.mark.parametrize("kwargs, expected", [
    (dict(bind_address="10.0.0.5"), ("10.0.0.5:7001", None)),
    (dict(bind_address="0.0.0.0", ansible_host="172.20.0.3"), ("172.20.0.3:7001", "127.0.0.1:7001")),
    (dict(bind_address="0.0.0.0", default_ipv4="172.20.0.4"), ("172.20.0.4:7001", "127.0.0.1:7001")),
    (dict(bind_address="0.0.0.0", ansible_host="127.0.0.1", default_ipv4="172.20.0.4"),
     ("172.20.0.4:7001", "127.0.0.1:7001")),
    (dict(bind_address="0.0.0.0", inventory_hostname="app1"), ("app1:7001", "127.0.0.1:7001")),
    (dict(bind_address="127.0.0.1"), (None, "127.0.0.1:7001")),
    (dict(bind_address="127.0.0.2"), (None, "127.0.0.2:7001")),
    (dict(bind_address="localhost"), (None, "127.0.0.1:7001")),
    (dict(bind_address="::1"), (None, "[::1]:7001")),
    (dict(bind_address="::", ansible_host="fd00::3"), ("[fd00::3]:7001", "[::1]:7001")),
    (dict(bind_address="app1.internal"), ("app1.internal:7001", None)),
])
def test_endpoints_of_each_bind_address(kwargs, expected):
    assert endpoints([7001], weight=1, **kwargs) == [{"address": expected[0], "local_address": expected[1], "weight": 1}]


@pytest.mark.parametrize("ports, bind, weight, field", [
    ([], "127.0.0.1", 1, "app_servers_ports"),
    (["7001x"], "127.0.0.1", 1, "app_servers_ports"),
    (["²"], "127.0.0.1", 1, "app_servers_ports"),
    ([7001], "127.0.0.1", "abc", "app_servers_weight"),
    ([7001], "127.0.0.1", 0, "app_servers_weight"),
    ([7001], "127.0.0.1", True, "app_servers_weight"),
    ([7001], "bad host", 1, "app_servers_bind_address"),
    ([7001], "h\n--access-log", 1, "app_servers_bind_address"),
])
def test_bad_input_names_the_app_servers_variable(ports, bind, weight, field):
    with pytest.raises(ValueError, match=r"\A%s: " % field):
        endpoints(ports, bind, weight)


APP1 = endpoints([7001, 7002], "0.0.0.0", 2, default_ipv4="172.20.0.2")
APP2 = endpoints([7001], "172.20.0.3", 1)
LOCAL = endpoints([7001], "127.0.0.1", 1)


def test_every_host_gives_each_of_its_endpoints_with_its_weight():
    published = {"app1": APP1, "app2": APP2}
    upstreams, errors = expand_groups([{"name": "pool", "group": "app", "servers": [{"address": "10.9.9.9:80"}]}],
                                      {"app": ["app1", "app2"]}, published.get, "lb")
    assert errors == []
    assert upstreams == [{"name": "pool", "servers": [
        {"address": "10.9.9.9:80"},
        {"address": "172.20.0.2:7001", "weight": 2},
        {"address": "172.20.0.2:7002", "weight": 2},
        {"address": "172.20.0.3:7001", "weight": 1},
    ]}]


@pytest.mark.parametrize("name, published, lb_host, expected", [
    ("lb", LOCAL, "lb", ["127.0.0.1:7001"]),
    ("lb", APP1, "lb", ["127.0.0.1:7001", "127.0.0.1:7002"]),
    ("app1", APP1, "lb", ["172.20.0.2:7001", "172.20.0.2:7002"]),
])
def test_a_host_that_is_the_lb_is_reached_on_loopback(name, published, lb_host, expected):
    assert [s["address"] for s in servers_of(name, published, lb_host)] == expected


@pytest.mark.parametrize("published, words", [
    (LOCAL, "binds its app servers to 127.0.0.1:7001, which lb cannot reach"),
    (None, "has published no app_servers_endpoints"),
    ([], "has published no app_servers_endpoints"),
])
def test_unreachable_or_unpublished_hosts_are_named(published, words):
    with pytest.raises(ValueError, match=words):
        servers_of("app2", published, "lb")


@pytest.mark.parametrize("groups, words", [({}, "no inventory group 'app'"), ({"app": []}, "has no hosts")])
def test_missing_group_names_the_field(groups, words):
    dummy, errors = expand_groups([{"name": "pool", "group": "app"}], groups, {}.get, "lb")
    assert len(errors) == 1 and errors[0].startswith("load_balancer_upstreams[0].group: ")
    assert words in errors[0]


def test_stream_ports_are_published_with_their_protocol_and_chosen_by_it():
    published = endpoints([7001], "127.0.0.1", 2, tcp_ports=[9101], udp_ports=[9201, 9202])
    assert published == [
        {"address": None, "local_address": "127.0.0.1:7001", "weight": 2},
        {"address": None, "local_address": "127.0.0.1:9101", "weight": 2, "protocol": "tcp"},
        {"address": None, "local_address": "127.0.0.1:9201", "weight": 2, "protocol": "udp"},
        {"address": None, "local_address": "127.0.0.1:9202", "weight": 2, "protocol": "udp"}]
    assert servers_of("lb", published, "lb") == [{"address": "127.0.0.1:7001", "weight": 2}]
    assert servers_of("lb", published, "lb", "udp") == [{"address": "127.0.0.1:9201", "weight": 2},
                                                        {"address": "127.0.0.1:9202", "weight": 2}]
    streams, errors = expand_groups([{"name": "u", "protocol": "udp", "group": "app"},
                                     {"name": "t", "group": "app"}], {"app": ["lb"]}, lambda name: published, "lb",
                                    "load_balancer_streams", streams=True)
    assert errors == []
    assert [s["servers"] for s in streams] == [[{"address": "127.0.0.1:9201", "weight": 2},
                                                {"address": "127.0.0.1:9202", "weight": 2}],
                                               [{"address": "127.0.0.1:9101", "weight": 2}]]


@pytest.mark.parametrize("kwargs, error", [
    (dict(tcp_ports=[0]), "app_servers_tcp_ports: port must be 1-65535"),
    (dict(udp_ports="9201"), "app_servers_udp_ports: must be a list of ports"),
])
def test_bad_stream_ports_name_their_variable(kwargs, error):
    with pytest.raises(ValueError, match=error):
        endpoints([7001], "127.0.0.1", 1, **kwargs)


def test_a_stream_group_without_endpoints_of_its_protocol_is_named():
    published = endpoints([7001], "127.0.0.1", 1, tcp_ports=[9101])
    dummy, errors = expand_groups([{"name": "u", "protocol": "udp", "group": "app"}], {"app": ["lb"]},
                                  lambda name: published, "lb", "load_balancer_streams", streams=True)
    assert errors == ["load_balancer_streams[0].group: host lb has published no udp endpoint in app_servers_endpoints "
                      "(app_servers_udp_ports)"]
