"""The app_servers role's input check (module_utils/_app_model.py, the
app_model filter): each wrong variable named in the error, before anything
on the host changes; and the IPAddressAllow= list it builds."""

import ipaddress

import pytest

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._app_model import (
    AppInputError, app_model, ip_allow, is_host, is_network)

DEFAULTS = {
    "app_servers_ports": [7001, 7002, 7003], "app_servers_tcp_ports": [], "app_servers_udp_ports": [],
    "app_servers_latency_ms": {}, "app_servers_weight": 1, "app_servers_header_timeout": 10,
    "app_servers_idle_timeout": 75, "app_servers_max_body": 65536, "app_servers_memory_max": "128M",
    "app_servers_bind_address": "127.0.0.1", "app_servers_allowed_networks": [], "app_servers_lb_group": "lb",
    "app_servers_version": "1", "app_servers_health_path": "/healthz", "app_servers_command": [],
    "app_servers_program": "", "app_servers_keep_releases": 3,
}


def model(lb_hosts=("lb1",), exists=lambda path: path == "/srv/app.py", **changes):
    return app_model(dict(DEFAULTS, **changes), lb_hosts=list(lb_hosts), own_addresses=["10.0.0.5"],
                     lb_addresses=["10.0.0.2"], exists=exists)


def test_the_defaults_pass_and_give_modes_ports_and_who_may_connect():
    found = model(app_servers_tcp_ports=[7101], app_servers_udp_ports=["7201"])
    assert found["modes"] == {"7001": "http", "7002": "http", "7003": "http", "7101": "tcp", "7201": "udp"}
    assert found["all_ports"] == [7001, 7002, 7003, 7101, 7201]
    assert found["ip_allow"] == ["127.0.0.0/8", "::1/128", "10.0.0.5", "10.0.0.2"]
    assert found["allow"]["item"].startswith(r"\A") and found["allow"]["value"].endswith(r"\Z")


@pytest.mark.parametrize("changes, named", [
    ({"app_servers_ports": [80]}, "app_servers_ports"),
    ({"app_servers_ports": ["http"]}, "app_servers_ports"),
    ({"app_servers_ports": [7001, 7001]}, "app_servers_ports"),
    ({"app_servers_ports": []}, "app_servers_ports"),
    ({"app_servers_ports": [True]}, "app_servers_ports"),
    ({"app_servers_ports": [70000]}, "app_servers_ports"),
    ({"app_servers_tcp_ports": "7101"}, "app_servers_tcp_ports"),
    ({"app_servers_udp_ports": [53]}, "app_servers_udp_ports"),
    ({"app_servers_tcp_ports": [7001]}, "app_servers_tcp_ports and app_servers_udp_ports"),
    ({"app_servers_tcp_ports": [7101], "app_servers_udp_ports": [7101]}, "app_servers_tcp_ports and app_servers_udp_ports"),
    ({"app_servers_latency_ms": {7009: 50}}, "app_servers_latency_ms"),
    ({"app_servers_latency_ms": {7001: -5}}, "app_servers_latency_ms"),
    ({"app_servers_latency_ms": {7001: 60001}}, "app_servers_latency_ms"),
    ({"app_servers_weight": 0}, "app_servers_weight"),
    ({"app_servers_weight": 1001}, "app_servers_weight"),
    ({"app_servers_header_timeout": 0}, "app_servers_header_timeout"),
    ({"app_servers_idle_timeout": 86401}, "app_servers_idle_timeout"),
    ({"app_servers_max_body": -1}, "app_servers_max_body"),
    ({"app_servers_keep_releases": 101}, "app_servers_keep_releases"),
    ({"app_servers_memory_max": "128M\nMemoryMax=infinity"}, "app_servers_memory_max"),
    ({"app_servers_memory_max": "0"}, "app_servers_memory_max"),
    ({"app_servers_memory_max": 128}, "app_servers_memory_max"),
    ({"app_servers_bind_address": "127.0.0.1 --access-log"}, "app_servers_bind_address"),
    ({"app_servers_bind_address": "127.0.0.1\n"}, "app_servers_bind_address"),
    ({"app_servers_bind_address": "127.0.0.1\nAPP_SERVER_MAX_BODY=999999999"}, "app_servers_bind_address"),
    ({"app_servers_bind_address": "${HOME}"}, "app_servers_bind_address"),
    ({"app_servers_bind_address": "10.0.0.256"}, "app_servers_bind_address"),
    ({"app_servers_bind_address": "10.0.0.0/8"}, "app_servers_bind_address"),
    ({"app_servers_allowed_networks": ["10.0.0.0/33"]}, "app_servers_allowed_networks"),
    ({"app_servers_allowed_networks": ["10.0.0.1 any"]}, "app_servers_allowed_networks"),
    ({"app_servers_allowed_networks": ["10.0.0.0/8\nIPAddressAllow=any"]}, "app_servers_allowed_networks"),
    ({"app_servers_allowed_networks": ["lb.example.com"]}, "app_servers_allowed_networks"),
    ({"app_servers_allowed_networks": "any"}, "app_servers_allowed_networks"),
    ({"app_servers_version": "2\nX-Evil: 1"}, "app_servers_version"),
    ({"app_servers_version": "../../etc"}, "app_servers_version"),
    ({"app_servers_version": 2}, "app_servers_version"),
    ({"app_servers_health_path": "/healthz x"}, "app_servers_health_path"),
    ({"app_servers_health_path": "healthz"}, "app_servers_health_path"),
    ({"app_servers_command": ["/bin/sh", "-c", "id;id"]}, "app_servers_command"),
    ({"app_servers_command": ["/usr/bin/env", "$HOME"]}, "app_servers_command"),
    ({"app_servers_command": ["/usr/bin/app", "%i"]}, "app_servers_command"),
    ({"app_servers_command": ["relative/app", "{port}"]}, "app_servers_command"),
    ({"app_servers_command": ["/usr/bin/app", "{unknown}"]}, "app_servers_command"),
    ({"app_servers_command": "/usr/bin/app"}, "app_servers_command"),
    ({"app_servers_program": "/srv/app.py"}, "app_servers_command"),  # a program needs its command
    ({"app_servers_program": "/nonexistent/app.py", "app_servers_command": ["{release}/app.py"]},
     "app_servers_program"),
])
def test_each_wrong_variable_is_named(changes, named):
    with pytest.raises(AppInputError) as caught:
        model(**changes)
    assert [error.split(": ", 1)[0] for error in caught.value.errors] == [named], caught.value.errors


def test_every_wrong_variable_is_named_at_once():
    with pytest.raises(AppInputError) as caught:
        model(app_servers_weight=0, app_servers_version="a b", app_servers_memory_max="x")
    assert [e.split(":")[0] for e in caught.value.errors] == ["app_servers_weight", "app_servers_memory_max",
                                                              "app_servers_version"]


def test_an_empty_allow_list_needs_a_loopback_bind_or_load_balancers():
    assert model(lb_hosts=(), app_servers_bind_address="127.0.0.1")
    assert model(lb_hosts=("lb1",), app_servers_bind_address="0.0.0.0")
    with pytest.raises(AppInputError, match="app_servers_allowed_networks: it is empty and inventory group 'lb'"
                                            " .*has no hosts"):
        model(lb_hosts=(), app_servers_bind_address="0.0.0.0")


@pytest.mark.parametrize("command", [
    ["{python}", "{release}/app_server.py", "--port={port}", "--bind={bind}"],
    ["/usr/bin/app", "--health={health_path}", "--v={version}", "a,b@c+d=e:f"],
    ["{release}/run"],
])
def test_commands_that_pass(command):
    assert model(app_servers_command=command, app_servers_program="/srv/app.py")


ADDRESSES = ["0.0.0.0", "127.0.0.1", "255.255.255.255", "10.1.2.3", "::", "::1", "1::", "fe80::42:acff:fe14:3",
             "2001:db8::7", "2001:0db8:0000:0000:0000:ff00:0042:8329", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8"]
NOT_ADDRESSES = ["256.0.0.1", "1.2.3", "01.2.3.4", "1.2.3.4.5", ":::", "1:::2", "1::2::3", ":1::", "1:2:3:4:5:6:7:8:9",
                 "12345::", "g::1", "1.2.3.4\n", "::1 ", " ::1", "", "any thing", "::ffff:1.2.3.4", "::1%eth0"]


@pytest.mark.parametrize("text", ADDRESSES)
def test_an_address_is_a_host_and_a_network(text):
    ipaddress.ip_address(text)
    assert is_host(text) and is_network(text)
    assert is_network(text + ("/24" if "." in text else "/64"))


@pytest.mark.parametrize("text", NOT_ADDRESSES + ["10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/8/8", "10.0.0.0/08 ",
                                                  "any\n", None, 7])
def test_what_is_no_network(text):
    assert not is_network(text)


@pytest.mark.parametrize("name, ok", [
    ("localhost", True), ("app-1.example.com", True), ("example.com.", True), ("a" * 63, True),
    ("-a", False), ("a-", False), ("a b", False), ("a\n", False), ("a_b", False), ("1.2.3.999", False),
    ("a" * 64, False), ("", False), ("$(id)", False), ("a..b", False),
])
def test_host_names(name, ok):
    assert is_host(name) is ok


def test_ip_allow_drops_floating_addresses_and_refuses_what_facts_make_up():
    assert ip_allow(["10.0.0.5", "10.0.0.100"], [], ["10.0.0.2"], floating=["10.0.0.100/24"]) == \
        ["127.0.0.0/8", "::1/128", "10.0.0.5", "10.0.0.2"]
    assert ip_allow([], ["any"], ["10.0.0.2"]) == ["127.0.0.0/8", "::1/128", "any"]
    with pytest.raises(AppInputError, match="IPAddressAllow .*not an address or CIDR.*10.0.0.5 x"):
        ip_allow(["10.0.0.5 x"], [], [])
