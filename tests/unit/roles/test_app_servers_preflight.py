"""The app_servers role's preflight allow-lists (anchored patterns in
tasks/preflight.yml) agree with Python's ipaddress on what an address is."""

import ipaddress
import re

import yaml

from helpers.paths import ROLES


def preflight_patterns():
    with open(ROLES / "app_servers" / "tasks" / "preflight.yml") as handle:
        tasks = yaml.safe_load(handle)
    found = {}
    for task in tasks:
        found.update({k: v for k, v in (task.get("vars") or {}).items() if k.endswith("_re")})
    return found


ADDRESSES = ["0.0.0.0", "127.0.0.1", "255.255.255.255", "10.1.2.3", "::", "::1", "1::", "fe80::42:acff:fe14:3",
             "2001:db8::7", "2001:0db8:0000:0000:0000:ff00:0042:8329", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8"]


NOT_ADDRESSES = ["256.0.0.1", "1.2.3", "01.2.3.4", "1.2.3.4.5", ":::", "1:::2", "1::2::3", ":1::", "1:2:3:4:5:6:7:8:9",
                 "12345::", "g::1", "1.2.3.4\n", "::1 ", " ::1", "", "any thing", "::ffff:1.2.3.4"]


def test_address_patterns_agree_with_python_ipaddress():
    patterns = preflight_patterns()
    ip_re, network_re, host_re = (re.compile(patterns[k]) for k in
                                  ("app_servers_ip_re", "app_servers_network_re", "app_servers_hostname_re"))
    for text in ADDRESSES:
        ipaddress.ip_address(text)
        assert ip_re.match(text) and network_re.match(text), text
        assert network_re.match(text + ("/24" if "." in text else "/64")), text
    for text in NOT_ADDRESSES:
        assert not ip_re.match(text) and not network_re.match(text), repr(text)
    for text in ["10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/8/8", "10.0.0.0/08 "]:
        assert not network_re.match(text), text
    assert network_re.match("any") and not network_re.match("any\n")
    for name in ["localhost", "app-1.example.com", "example.com.", "a" * 63]:
        assert host_re.match(name), name
    for name in ["-a", "a-", "a b", "a\n", "a_b", "1.2.3.999", "a" * 64, "", "$(id)", "a..b"]:
        assert not host_re.match(name), repr(name)
