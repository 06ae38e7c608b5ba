"""What keepalived's own config reader makes of the values the ha role writes
into keepalived.conf: every character the allow-lists of
plugins/module_utils/_ha.py accept stays literal, every form they refuse is
one keepalived substitutes, reads as a directive or cuts; and the role's
template, rendered from a plan, passes `keepalived -t`."""

import ipaddress
import os
import re
import shutil
import string
import subprocess

import pytest
import yaml

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._ha import AUTH_PASS_RE, INTERFACE_RE, ha_plan
from helpers.paths import ROLES
from helpers.processes import run_local_playbook

KEEPALIVED = shutil.which("keepalived") or (os.path.exists("/usr/sbin/keepalived") and "/usr/sbin/keepalived") or None
pytestmark = pytest.mark.skipif(KEEPALIVED is None, reason="keepalived is not installed (apt-get install keepalived)")

# A word keepalived reports back as read: a tracked interface that does not exist.
TRACKED = re.compile(r"tracked interface (.*) doesn't exist")


def host_interface():
    """(name, IPv4Interface text) of a non-loopback interface of this machine: keepalived -t wants one that exists."""
    proc = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True, check=False, timeout=10)
    for line in proc.stdout.splitlines():
        fields = line.split()
        if len(fields) > 3 and fields[2] == "inet" and not fields[3].startswith("127.") and INTERFACE_RE.match(fields[1]):
            return fields[1], fields[3]
    pytest.skip("no IPv4 interface besides loopback to write into keepalived.conf")
    return None


def keepalived_test(path):
    proc = subprocess.run([KEEPALIVED, "-t", "-f", str(path), "-l", "-D"], capture_output=True, text=True,
                          check=False, timeout=30)
    return proc.returncode, proc.stdout + proc.stderr


def read_back(tmp_path, words):
    """The words keepalived read, each written on a line of its own as a tracked interface."""
    interface, dummy = host_interface()
    conf = tmp_path / "read_back.conf"
    conf.write_text("vrrp_instance probe {\n    state BACKUP\n    interface %s\n    virtual_router_id 51\n"
                    "    priority 100\n    virtual_ipaddress {\n        192.0.2.254/32 dev %s\n    }\n"
                    "    track_interface {\n%s    }\n}\n"
                    % (interface, interface, "".join("        %s\n" % word for word in words)))
    dummy, output = keepalived_test(conf)
    return TRACKED.findall(output), output


def accepted(pattern):
    """The characters `pattern` takes anywhere in a value."""
    return [char for char in string.printable if pattern.match("a" + char)]


@pytest.mark.parametrize("pattern, length", [(AUTH_PASS_RE, 8), (INTERFACE_RE, 15)], ids=["ha_auth_pass", "interface"])
def test_every_character_the_allow_list_accepts_stays_literal(tmp_path, pattern, length):
    """At the start, in the middle and at the end of a word at a line's start
    (where '@' and '~SEQ' would count), and as a whole word of the longest length."""
    chars = accepted(pattern)
    assert len(chars) > 26
    words = [word for char in chars for word in (char + "xq", "x" + char + "q", "xq" + char) if pattern.match(word)]
    words.append("x" + "".join(chars)[-length + 1:])
    assert all(pattern.match(word) for word in words)
    found, output = read_back(tmp_path, words)
    assert found == words, output


# Each refused by AUTH_PASS_RE and INTERFACE_RE (test__ha.py has them and more).
KEEPALIVED_SPECIALS = ["$_RANDOM", "a$_RANDOM", "${_RANDOM}", "$_HASH", "$_BANG", "$_PWD", "~SEQ(i,1,1,2)",
                       "@probe", "@^x", "#x", "!x", "a#b", "a!b", "{x}", "}x", "x\"y\""]


@pytest.mark.parametrize("word", KEEPALIVED_SPECIALS)
def test_keepalived_reads_every_refused_form_as_something_else(tmp_path, word):
    assert not AUTH_PASS_RE.match(word) and not INTERFACE_RE.match(word)
    found, output = read_back(tmp_path, ["before", word, "after"])
    assert found != ["before", word, "after"], output


RENDER = """    - name: Write keepalived.conf
      ansible.builtin.template:
        src: "%s"
        dest: "{{ out }}/{{ index }}.conf"
        mode: "0600"
      loop: "{{ cases }}"
      loop_control:
        index_var: index
      vars:
        ha_auth_pass: "{{ item.password }}"
        ha_model: "{{ item.model }}"
""" % (ROLES / "ha" / "templates" / "keepalived.conf.j2")

GOOD_PASSWORDS = ["", "s3cret", "%&()*+,.", "/:;<=>?[", "]^_`|-aZ", "include"]


def two_lbs(extra_addresses):
    """This machine's interface and network, two LBs' hostvars on it (lb1,
    lb2), `extra_addresses` free addresses for floating ones, and the ha
    role's defaults and Debian vars."""
    interface, address = host_interface()
    network = ipaddress.IPv4Interface(address).network
    own, peer, *free = [str(network[-n]) for n in range(2, 4 + extra_addresses)]

    def facts(ip):
        return {"interfaces": [interface],
                interface.replace("-", "_"): {"ipv4": {"address": ip, "netmask": str(network.netmask)}}}

    role_vars = {}
    for path in (ROLES / "ha" / "defaults" / "main.yml", ROLES / "ha" / "vars" / "Debian.yml"):
        with open(path) as handle:
            role_vars.update(yaml.safe_load(handle))
    hostvars = {"lb1": {"ansible_facts": facts(own)}, "lb2": {"ansible_facts": facts(peer)}}
    return interface, network, free, role_vars, hostvars


def test_the_role_template_rendered_from_a_plan_passes_keepalived_t(tmp_path):
    interface, network, (vip,), role_vars, hostvars = two_lbs(1)
    role_vars.update(ha_vip="%s/%d" % (vip, network.prefixlen), ha_unicast=True)
    cases = [{"password": password, "model": ha_plan(dict(role_vars, ha_auth_pass=password), "lb1", "lb",
                                                     ["lb1", "lb2"], hostvars)} for password in GOOD_PASSWORDS]
    out = tmp_path / "out"
    out.mkdir()
    proc = run_local_playbook(tmp_path, "Render the ha role's keepalived.conf, once per password", RENDER,
                              {"out": str(out), "cases": cases})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for index, password in enumerate(GOOD_PASSWORDS):
        conf = out / ("%d.conf" % index)
        text = conf.read_text()
        assert ("auth_pass %s\n" % password in text) is bool(password) and ("auth_pass" in text) is bool(password)
        assert "interface %s\n" % interface in text and "dev %s\n" % interface in text
        returncode, output = keepalived_test(conf)
        assert returncode == 0, (password, output)


ACTIVE_ACTIVE = [
    {"ha_vrrp_version": 2, "ha_advert_int": 1},
    {"ha_vrrp_version": 3, "ha_advert_int": 0.2, "ha_garp_master_refresh": 30, "ha_vrrp_rt_priority": 50,
     "ha_garp_master_delay": 0},
]


@pytest.mark.parametrize("settings", ACTIVE_ACTIVE, ids=["v2-1s", "v3-0.2s"])
def test_two_addresses_and_each_vrrp_setting_pass_keepalived_t_as_written(tmp_path, settings):
    """ha_vips: one instance per address with this host's priority for it;
    keepalived reads the version, the interval and the garp settings without
    a warning (VRRPv2 would round 0.2 up to a second)."""
    interface, network, (vip1, vip2), role_vars, hostvars = two_lbs(2)
    role_vars.update(settings, ha_vips=["%s/%d" % (vip, network.prefixlen) for vip in (vip1, vip2)])
    model = ha_plan(role_vars, "lb2", "lb", ["lb1", "lb2"], hostvars)
    out = tmp_path / "out"
    out.mkdir()
    proc = run_local_playbook(tmp_path, "Render the ha role's keepalived.conf", RENDER,
                              {"out": str(out), "cases": [{"password": "", "model": model}]})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    conf = out / "0.conf"
    text = conf.read_text()
    assert text.count("vrrp_instance ") == 2
    assert "virtual_router_id 51\n    # master: lb1\n    priority 190\n" in text
    assert "virtual_router_id 52\n    # master: lb2\n    priority 200\n" in text
    assert text.count("version %d\n" % settings["ha_vrrp_version"]) == 2
    assert text.count("advert_int %s\n" % settings["ha_advert_int"]) == 2
    returncode, output = keepalived_test(conf)
    assert returncode == 0, output
    complaints = [line for line in output.splitlines()
                  if re.search(r"invalid|rounding|must be|unknown|ignor", line, re.I) and "script_security" not in line]
    assert complaints == [], output


NFT = shutil.which("nft") or (os.path.exists("/usr/sbin/nft") and "/usr/sbin/nft") or None

RENDER_NFT = """    - name: Write the quiet-refusal rules
      ansible.builtin.template:
        src: "%s"
        dest: "{{ out }}/quiet.nft"
        mode: "0600"
      vars:
        ha_model: "{{ model }}"
""" % (ROLES / "ha" / "templates" / "edgeops-ha-quiet.nft.j2")


@pytest.mark.skipif(NFT is None or os.geteuid() != 0, reason="nft -c needs the nft command and root")
def test_the_quiet_refusal_rules_pass_nft_c(tmp_path):
    model = {"quiet_refusals": {"enabled": True, "ports": [80, 443], "addresses": ["192.0.2.10", "192.0.2.11"]}}
    out = tmp_path / "out"
    out.mkdir()
    proc = run_local_playbook(tmp_path, "Render the quiet-refusal rules", RENDER_NFT, {"out": str(out), "model": model})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = (out / "quiet.nft").read_text()
    assert "ip daddr { 192.0.2.10, 192.0.2.11 } tcp dport { 80, 443 }" in text
    check = subprocess.run([NFT, "-c", "-f", str(out / "quiet.nft")], capture_output=True, text=True, check=False,
                           timeout=30)
    assert check.returncode == 0, check.stderr
