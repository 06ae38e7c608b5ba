"""The ha role's input -> plan (plugins/module_utils/_ha.py): named errors for
every wrong field, interfaces and unicast peers from facts, priorities."""

import copy

import pytest
import yaml

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._ha import HaError, ha_plan, host_networks
from helpers.paths import ROLES


def facts(address, netmask="255.255.0.0", name="eth0", secondaries=()):
    """As Ansible gathers them: the key of an interface's facts has '_' for '-'."""
    return {"interfaces": ["lo", name],
            "lo": {"ipv4": {"address": "127.0.0.1", "netmask": "255.0.0.0"}},
            name.replace("-", "_"): {"ipv4": {"address": address, "netmask": netmask},
                                     "ipv4_secondaries": [{"address": a, "netmask": netmask} for a in secondaries]}}


HOSTVARS = {"lb1": {"ansible_facts": facts("172.30.0.2")}, "lb2": {"ansible_facts": facts("172.30.0.3")}}


def role_vars(**changed):
    values = {}
    for path in (ROLES / "ha" / "defaults" / "main.yml", ROLES / "ha" / "vars" / "Debian.yml"):
        with open(path) as handle:
            values.update(yaml.safe_load(handle))
    values.pop("ha_lb_group")
    values["ha_vip"] = "172.30.255.10/16"
    values.update(changed)
    return values


def plan(host="lb1", hosts=("lb1", "lb2"), hostvars=None, **changed):
    return ha_plan(role_vars(**changed), host, "lb", list(hosts), HOSTVARS if hostvars is None else hostvars)


def errors(**kwargs):
    with pytest.raises(HaError) as caught:
        plan(**kwargs)
    return caught.value.errors


def test_defaults_give_one_instance_on_the_interface_of_the_vip_network():
    result = plan()
    assert result["instances"] == [{
        "name": "edgeops_vrid_51", "vip": "172.30.255.10/16", "address": "172.30.255.10", "interface": "eth0",
        "virtual_router_id": 51, "unicast_src_ip": "", "unicast_peers": [], "priority": 200, "master": "lb1"}]
    assert (result["priority"], result["advert_int"], result["nopreempt"], result["auth"]) == (200, 1, False, False)
    assert result["status"]["url"] == "http://127.0.0.1:8081/nginx_status"
    assert result["status"]["allow"] == ["127.0.0.1"]
    assert result["check"] == {"interval": 1, "timeout": 1, "fall": 2, "rise": 2}
    assert (result["down_timer_adverts"], result["handover_wait"]) == (3, 5)


@pytest.mark.parametrize("adverts, advert_int, wait", [(3, 1, 5), (2, 1, 4), (1, 2, 5), (100, 1, 102)])
def test_the_hand_over_waits_out_the_peers_master_down_timer(adverts, advert_int, wait):
    result = plan(ha_down_timer_adverts=adverts, ha_advert_int=advert_int)
    assert (result["down_timer_adverts"], result["handover_wait"]) == (adverts, wait)


def test_priorities_follow_the_group_order_unless_set_per_host():
    assert plan(host="lb2")["priority"] == 190
    hostvars = copy.deepcopy(HOSTVARS)
    hostvars["lb2"]["ha_priority"] = 250
    assert plan(host="lb2", hostvars=hostvars)["priority"] == 250


def test_unicast_peers_are_the_other_hosts_addresses_in_the_vip_network():
    hostvars = copy.deepcopy(HOSTVARS)
    hostvars["lb3"] = {"ansible_facts": facts("172.30.0.4")}
    instance = plan(hosts=("lb1", "lb2", "lb3"), hostvars=hostvars, ha_unicast=True)["instances"][0]
    assert (instance["unicast_src_ip"], instance["unicast_peers"]) == ("172.30.0.2", ["172.30.0.3", "172.30.0.4"])


def test_the_interface_is_found_among_several():
    hostvars = copy.deepcopy(HOSTVARS)
    hostvars["lb1"]["ansible_facts"] = facts("10.1.0.2", "255.255.255.0", name="ens4")
    hostvars["lb1"]["ansible_facts"]["interfaces"].append("eth0")
    hostvars["lb1"]["ansible_facts"]["eth0"] = {"ipv4": {"address": "172.30.0.2", "netmask": "255.255.0.0"}}
    assert plan(hostvars=hostvars)["instances"][0]["interface"] == "eth0"
    assert plan(hostvars=hostvars, ha_vip="10.1.0.9/24")["instances"][0]["interface"] == "ens4"


def test_a_single_load_balancer_is_refused_by_name():
    assert errors(hosts=("lb1",)) == [
        "ha_lb_group: group 'lb' has 1 host(s) (lb1); a floating address needs at least two load balancers"]


def test_a_vip_outside_every_network_is_named():
    assert errors(ha_vip="10.9.0.10/24") == [
        "ha_vip: 10.9.0.10/24 is outside every network of lb1's interfaces (eth0 172.30.0.0/16); give an address "
        "in one of them, or set ha_interface"]


def test_a_vip_outside_the_given_interface_is_named():
    assert errors(ha_interface="eth1") == [
        "ha_vip: 172.30.255.10/16 is outside the network of ha_interface eth1 on lb1 (none)"]


def test_a_vip_that_is_a_host_address_is_named():
    assert errors(ha_vip="172.30.0.3/16") == [
        "ha_vip: 172.30.0.3 is already an address of lb2; the floating address must be free"]


def test_duplicate_router_ids_are_named():
    assert errors(ha_extra_instances=[{"vip": "172.30.255.11/16", "virtual_router_id": 51}]) == [
        "ha_extra_instances[0].virtual_router_id: virtual router id 51 is already used by ha_virtual_router_id; "
        "each VRRP instance needs its own"]


def test_two_instances_with_their_own_ids():
    instances = plan(ha_extra_instances=[{"vip": "172.30.255.11/16", "virtual_router_id": 52}])["instances"]
    assert [(i["name"], i["vip"]) for i in instances] == [("edgeops_vrid_51", "172.30.255.10/16"),
                                                          ("edgeops_vrid_52", "172.30.255.11/16")]


@pytest.mark.parametrize("value, message", [
    (0, "ha_priority (host lb2): must be an integer 1-254, got 0"),
    (255, "ha_priority (host lb2): must be an integer 1-254, got 255"),
    ("high", "ha_priority (host lb2): must be an integer 1-254, got 'high'"),
    (True, "ha_priority (host lb2): must be an integer 1-254, got True"),
    (200, "ha_priority: lb1, lb2 all have priority 200; each load balancer needs its own, or the election falls "
          "to the highest address"),
])
def test_bad_priorities_are_named(value, message):
    hostvars = copy.deepcopy(HOSTVARS)
    hostvars["lb2"]["ha_priority"] = value
    assert errors(hostvars=hostvars) == [message]


@pytest.mark.parametrize("password", ["", "s3cret", "12345678", "a+b=c.d-", "%&()*+,.", "/:;<=>?[", "]^_`|-aZ", "include"])
def test_good_passwords(password):
    assert plan(ha_auth_pass=password)["auth"] is bool(password)


# keepalived's config reader substitutes '$NAME', '${NAME}' and its builtins
# ($_RANDOM gives each load balancer another password), reads '~SEQ(...)' and
# '@id' at a line's start, cuts at '#', '!', quotes and braces.
KEEPALIVED_SPECIALS = [
    "$_RANDOM", "a$_RANDOM", "${_RANDOM}", "$_HASH", "$_BANG", "$_PWD", "$_INSTANCE", "$_SEQ", "$X", "${X}",
    "$$", "a$", "$X=1", "~SEQ(i,1,1,3)", "~", "a~b", "@lb1", "@^lb1", "a@b", "#x", "!x", "a#b", "a!b", "{x}",
    "}", "'x'", "\"x\"", "a\\b",
]


@pytest.mark.parametrize("password", ["123456789", "two words", "pa\"ss", "é", "x\n", "\\", "\t"] + KEEPALIVED_SPECIALS)
def test_bad_passwords_are_named_without_showing_them(password):
    """The message gives the length only, never the password."""
    assert errors(ha_auth_pass=password) == [
        "ha_auth_pass: must be 1-8 printable ASCII characters without space, quotes, backslash, # ! { } $ ~ @ "
        "(VRRP PASS authentication; keepalived would substitute or cut them), got %d characters" % len(password)]


# Linux allows all of these in an interface name; keepalived.conf cannot hold them.
BAD_INTERFACE_NAMES = ["eth$_RANDOM", "e${X}", "~SEQ(i,1,1)", "@lb1", "eth0#x", "eth0!x", "e{0}", "e\"0", "e'0",
                       "e\\0", "eth 0", "eth0\n", "eth0:1", "ethernet-0123456", "é0", "-eth0", "-", ""]


@pytest.mark.parametrize("name", BAD_INTERFACE_NAMES)
def test_a_given_interface_that_keepalived_cannot_hold_is_named(name):
    if not name:
        assert plan(ha_interface=name)["instances"][0]["interface"] == "eth0"  # empty: found in the facts
        return
    assert errors(ha_interface=name) == [
        "ha_interface: must be an interface name (1-15 of A-Z a-z 0-9 _ . -, not - first), got %r" % (name,)]


@pytest.mark.parametrize("name", BAD_INTERFACE_NAMES[:-1])
def test_an_interface_from_the_facts_that_keepalived_cannot_hold_is_named_with_its_host(name):
    hostvars = copy.deepcopy(HOSTVARS)
    hostvars["lb1"]["ansible_facts"] = facts("172.30.0.2", name=name)
    assert errors(hostvars=hostvars) == [
        "ha_vip: interface %r of lb1 (from its facts), the one in 172.30.0.0/16, cannot be written into "
        "keepalived.conf: an interface name there must be 1-15 of A-Z a-z 0-9 _ . -, not - first" % (name,)]


@pytest.mark.parametrize("name", ["eth0", "ens4", "br-0a1b2c3d4e5f", "bond0.100", "wlp2s0_x", "a" * 15])
def test_interface_names_from_the_facts_that_keepalived_holds(name):
    hostvars = copy.deepcopy(HOSTVARS)
    hostvars["lb1"]["ansible_facts"] = facts("172.30.0.2", name=name)
    assert plan(hostvars=hostvars)["instances"][0]["interface"] == name
    assert plan(hostvars=hostvars, ha_interface=name)["instances"][0]["interface"] == name


def test_only_the_interface_written_is_checked():
    """Another interface of the host, outside the floating address's network, may have any name."""
    hostvars = copy.deepcopy(HOSTVARS)
    hostvars["lb1"]["ansible_facts"]["interfaces"].append("veth$x")
    hostvars["lb1"]["ansible_facts"]["veth$x"] = {"ipv4": {"address": "10.1.0.2", "netmask": "255.255.255.0"}}
    assert plan(hostvars=hostvars)["instances"][0]["interface"] == "eth0"


@pytest.mark.parametrize("field", ["ha_python", "ha_script_dir", "ha_handover_file", "ha_ip_command"])
@pytest.mark.parametrize("value", ["relative/path", "/usr/bin/python3 -c", "/run/$_RANDOM", "/a\"b", "/a#b",
                                   "/a!b", "/a{b}", "/a~b", "/a@b", "/a\n", None, 3])
def test_the_paths_keepalived_conf_names_are_checked(field, value):
    assert errors(**{field: value}) == [
        "%s: must be an absolute path of A-Z a-z 0-9 . _ / -, got %r" % (field, value)]


def test_the_paths_keepalived_conf_names_are_in_the_plan():
    assert plan()["files"] == {"python": "/usr/bin/python3", "script_dir": "/usr/local/lib/edgeops-ha",
                               "handover_file": "/run/edgeops-ha.handover", "ip_command": "/usr/sbin/ip"}


@pytest.mark.parametrize("field, value, start", [
    ("ha_vip", "172.30.255.10", "ha_vip: must be an IPv4 address with a prefix length"),
    ("ha_vip", "172.30.255.10/16\n", "ha_vip: must be an IPv4 address with a prefix length"),
    ("ha_vip", "172.30.255.10/40", "ha_vip: "),
    ("ha_vip", "172.30.255.255/16", "ha_vip: 172.30.255.255 is the network or broadcast address"),
    ("ha_vip", "１72.30.0.9/16", "ha_vip: must be an IPv4 address with a prefix length"),
    ("ha_virtual_router_id", 0, "ha_virtual_router_id: must be an integer 1-255, got 0"),
    ("ha_virtual_router_id", 256, "ha_virtual_router_id: must be an integer 1-255, got 256"),
    ("ha_interface", "eth0; rm", "ha_interface: must be an interface name"),
    ("ha_interface", "-h", "ha_interface: must be an interface name"),
    ("ha_advert_int", 0, "ha_advert_int: must be whole seconds 1-255, got 0"),
    ("ha_down_timer_adverts", 0, "ha_down_timer_adverts: must be an integer 1-100, got 0"),
    ("ha_down_timer_adverts", 101, "ha_down_timer_adverts: must be an integer 1-100, got 101"),
    ("ha_down_timer_adverts", "3 x", "ha_down_timer_adverts: must be an integer 1-100"),
    ("ha_check_fall", 0, "ha_check_fall: must be an integer 1-255, got 0"),
    ("ha_status_address", "127.0.0.1;", "ha_status_address: must be an IPv4 address"),
    ("ha_status_port", 70000, "ha_status_port: must be an integer 1-65535, got 70000"),
    ("ha_status_path", "/a b", "ha_status_path: must be a path"),
    ("ha_status_path", "/s;allow all", "ha_status_path: must be a path"),
    ("ha_status_allow", ["all"], "ha_status_allow[0]: must be an IPv4 address or network"),
    ("ha_status_allow", [], "ha_status_allow: must be a non-empty list"),
    ("ha_exporter_listen", ":9113", "ha_exporter_listen: must be IPv4-address:port"),
    ("ha_exporter_listen", "127.0.0.1:9113 -x", "ha_exporter_listen: must be IPv4-address:port"),
    ("ha_nopreempt", "maybe", "ha_nopreempt: must be a boolean"),
    ("ha_exporter_enabled", "maybe", "ha_exporter_enabled: must be a boolean"),
])
def test_bad_values_are_named(field, value, start):
    found = errors(**{field: value})
    assert len(found) == 1 and found[0].startswith(start), found


@pytest.mark.parametrize("value, enabled", [("false", False), ("no", False), (False, False), ("yes", True)])
def test_flags_are_read_as_ansible_reads_booleans(value, enabled):
    result = plan(ha_exporter_enabled=value, ha_nopreempt=value)
    assert (result["exporter"]["enabled"], result["nopreempt"]) == (enabled, enabled)


@pytest.mark.parametrize("path", ["/a//b", "//", "/a/./b", "/a/../b", "/nginx_status/.", "/nginx_status/..", "/.",
                                  "/..", "/a/./", "/nginx_status//"])
def test_a_status_path_nginx_never_matches_is_named(path):
    assert errors(ha_status_path=path) == [
        "ha_status_path: must be a path in normal form: no '//', no '.' or '..' segment (nginx matches the request's "
        "normalised URI, which never holds them), got %r" % path]


@pytest.mark.parametrize("path", ["/nginx_status", "/nginx_status/", "/.status", "/a..b"])
def test_a_normalised_status_path_passes(path):
    assert plan(ha_status_path=path)


def test_unicast_needs_the_peers_facts():
    hostvars = {"lb1": HOSTVARS["lb1"], "lb2": {}}
    assert errors(hostvars=hostvars, ha_unicast=True) == [
        "ha_unicast: no facts of lb2 to find its address in 172.30.0.0/16; gather facts on every host of 'lb'"]


def test_host_networks_reads_primary_and_secondary_addresses_but_not_loopback():
    found = host_networks(facts("10.0.0.5", "255.255.255.0", secondaries=["10.0.0.6"]))
    assert [(name, str(address)) for name, address in found] == [("eth0", "10.0.0.5/24"), ("eth0", "10.0.0.6/24")]


def test_the_floating_address_held_right_now_is_neither_a_conflict_nor_a_peer():
    """On a re-run the master's facts show the address as a secondary one of eth0."""
    hostvars = copy.deepcopy(HOSTVARS)
    hostvars["lb1"]["ansible_facts"] = facts("172.30.0.2", secondaries=["172.30.255.10"])
    for host in ("lb1", "lb2"):
        instance = plan(host=host, hostvars=hostvars, ha_unicast=True)["instances"][0]
        assert instance["unicast_src_ip"] == {"lb1": "172.30.0.2", "lb2": "172.30.0.3"}[host]
        assert instance["unicast_peers"] == [{"lb1": "172.30.0.3", "lb2": "172.30.0.2"}[host]]


THREE = {"lb1": {"ansible_facts": facts("172.30.0.2")}, "lb2": {"ansible_facts": facts("172.30.0.3")},
         "lb3": {"ansible_facts": facts("172.30.0.4")}}


def vips_plan(host, vips, hosts=("lb1", "lb2", "lb3"), **changed):
    return plan(host=host, hosts=hosts, hostvars=THREE, ha_vip=None, ha_vips=vips, **changed)


@pytest.mark.parametrize("host, expected", [
    # Address i's master is host i mod 3; the hosts after it get 190, 180.
    ("lb1", [(51, 200, "lb1"), (52, 180, "lb2"), (53, 190, "lb3"), (54, 200, "lb1")]),
    ("lb2", [(51, 190, "lb1"), (52, 200, "lb2"), (53, 180, "lb3"), (54, 190, "lb1")]),
    ("lb3", [(51, 180, "lb1"), (52, 190, "lb2"), (53, 200, "lb3"), (54, 180, "lb1")]),
])
def test_ha_vips_spread_the_masters_over_the_group(host, expected):
    result = vips_plan(host, ["172.30.255.%d/16" % n for n in (10, 11, 12, 13)])
    assert [(i["virtual_router_id"], i["priority"], i["master"]) for i in result["instances"]] == expected
    assert [i["name"] for i in result["instances"]] == ["edgeops_vrid_%d" % n for n in (51, 52, 53, 54)]


def test_ha_vips_master_and_router_id_per_address():
    vips = [{"vip": "172.30.255.10/16", "master": "lb3", "virtual_router_id": 9}, "172.30.255.11/16"]
    result = vips_plan("lb3", vips)
    assert [(i["virtual_router_id"], i["priority"], i["master"]) for i in result["instances"]] == [
        (9, 200, "lb3"), (52, 190, "lb2")]


def test_ha_vip_is_ha_vips_of_one():
    single = plan()
    listed = plan(ha_vip=None, ha_vips=["172.30.255.10/16"])
    assert listed == single


def test_ha_priority_orders_the_rotation():
    hostvars = {"lb1": {"ansible_facts": facts("172.30.0.2"), "ha_priority": 100},
                "lb2": {"ansible_facts": facts("172.30.0.3"), "ha_priority": 150}}
    result = plan(host="lb1", hostvars=hostvars, ha_vip=None, ha_vips=["172.30.255.10/16", "172.30.255.11/16"])
    # lb2 comes first in priority order: it is the first address's master.
    assert [(i["priority"], i["master"]) for i in result["instances"]] == [(100, "lb2"), (150, "lb1")]


@pytest.mark.parametrize("changed, message", [
    ({"ha_vips": ["172.30.255.10/16"]}, "ha_vips: set either ha_vip (one address) or ha_vips (a list), not both"),
    ({"ha_vip": None}, "ha_vips: no floating address; set ha_vip"),
    ({"ha_vip": None, "ha_vips": ["172.30.255.10/16", "172.30.255.10/16"]},
     "ha_vips[1].vip: 172.30.255.10 is already the address of ha_vips[0].vip"),
    ({"ha_vip": None, "ha_vips": ["172.30.255.10/16", {"vip": "172.30.255.11/16", "virtual_router_id": 51}]},
     "ha_vips[1].virtual_router_id: virtual router id 51 is already used by ha_vips[0].virtual_router_id"),
    ({"ha_vip": None, "ha_vips": [{"vip": "172.30.255.10/16", "master": "lb9"}]},
     "ha_vips[0].master: lb9 is not a host of the load balancers' group (lb1, lb2)"),
    ({"ha_vip": None, "ha_vips": [{"vip": "172.30.255.10/16", "master": 1}]},
     "ha_vips[0].master: must be the name of a host of the group, got 1"),
    ({"ha_vip": None, "ha_vips": [{"vip": "172.30.255.10/16", "weight": 1}]},
     "ha_vips[0]: must be an address like 192.0.2.10/24 or a dict with vip, virtual_router_id and master only"),
    ({"ha_vip": None, "ha_vips": ["10.9.0.10/24"]}, "ha_vips[0].vip: 10.9.0.10/24 is outside every network"),
    ({"ha_vip": None, "ha_vips": "172.30.255.10/16"}, "ha_vips: must be a list"),
    ({"ha_vip": None, "ha_virtual_router_id": 255, "ha_vips": ["172.30.255.10/16", "172.30.255.11/16"]},
     "ha_vips[1].virtual_router_id: ha_virtual_router_id 255 + 1 is beyond 255"),
    ({"ha_advert_int": "0.2"}, "ha_advert_int: must be whole seconds 1-255, got '0.2'; intervals below a second "
                               "need ha_vrrp_version: 3"),
    ({"ha_vrrp_version": 3, "ha_advert_int": 0.005}, "ha_advert_int: with ha_vrrp_version 3 must be 0.01-40.95"),
    ({"ha_vrrp_version": 3, "ha_advert_int": 41}, "ha_advert_int: with ha_vrrp_version 3 must be 0.01-40.95"),
    ({"ha_vrrp_version": 4}, "ha_vrrp_version: must be an integer 2-3, got 4"),
    ({"ha_vrrp_version": 3, "ha_advert_int": 0.2, "ha_auth_pass": "edgeops7"},
     "ha_auth_pass: VRRPv3 has no authentication"),
    ({"ha_garp_master_delay": -1}, "ha_garp_master_delay: must be an integer 0-255"),
    ({"ha_garp_master_refresh": "often"}, "ha_garp_master_refresh: must be an integer 0-3600"),
    ({"ha_vrrp_rt_priority": 100}, "ha_vrrp_rt_priority: must be an integer 0-99"),
    ({"ha_quiet_refusal_ports": []}, "ha_quiet_refusal_ports: must be a non-empty list of TCP ports"),
    ({"ha_quiet_refusal_ports": [80, 70000]}, "ha_quiet_refusal_ports[1]: must be an integer 1-65535"),
    ({"ha_quiet_refusals": "maybe"}, "ha_quiet_refusals: must be a boolean"),
])
def test_bad_ha_vips_and_vrrp_settings_are_named(changed, message):
    found = errors(**changed)
    assert len(found) == 1 and found[0].startswith(message), found


@pytest.mark.parametrize("version, value, text, wait", [
    (2, 1, "1", 5.0), (2, "3", "3", 13.0), (2, 1.0, "1", 5.0),
    (3, 0.2, "0.2", 1.8), (3, "0.05", "0.05", 1.2), (3, 1, "1", 5.0), (3, 40.95, "40.95", 164.8),
])
def test_advert_interval_per_vrrp_version(version, value, text, wait):
    result = plan(ha_vrrp_version=version, ha_advert_int=value)
    assert (result["vrrp_version"], result["advert_int_text"], result["handover_wait"]) == (version, text, wait)


def test_garp_quiet_refusals_and_the_advert_cost():
    result = plan(ha_vip=None, ha_vips=["172.30.255.10/16", "172.30.255.11/16"], ha_vrrp_version=3,
                  ha_advert_int=0.2, ha_garp_master_refresh=30, ha_quiet_refusal_ports=[443, 80, 443])
    assert result["garp"] == {"delay": 1, "repeat": 5, "refresh": 30, "rt_priority": 0}
    assert result["quiet_refusals"] == {"enabled": True, "ports": [80, 443],
                                        "addresses": ["172.30.255.10", "172.30.255.11"]}
    assert result["adverts_per_second"] == 10.0
