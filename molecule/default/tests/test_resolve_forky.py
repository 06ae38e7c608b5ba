"""DNS-discovered backends on nginx >= 1.27.3 (the forky host, nginx 1.30):
the upstream `dyn` has `server dyn.edgeops.test:7001 resolve`, asked of the
test's own DNS server (dnsmasq on 127.0.0.53, records with a TTL of 2 s,
molecule/default/prepare.yml). The name's A records change under load and
nginx follows them without a reload; every request goes to 127.0.0.1 inside
the host, bounded in count and time."""

import re
import time

import pytest

from deployload import Load
from lbcheck import lb_verify

testinfra_hosts = ["edgeops-molecule-forky"]

NAME = "dyn.edgeops.test"
FIRST = ["127.0.0.2", "127.0.0.3"]
CHANGED = ["127.0.0.4", "127.0.0.5"]
TTL = 2


def set_records(host, addresses):
    """The name's A records, as the DNS server answers them from now on."""
    lines = "".join("%s %s\\n" % (address, NAME) for address in addresses)
    host.run_expect([0], "printf '%s' > /etc/edgeops-test-dns/hosts && systemctl reload edgeops-test-dns" % lines)


def nginx_processes(host):
    """(master PID, worker PIDs): a reload would replace every worker."""
    master = host.check_output("cat /run/nginx.pid")
    return master, sorted(host.check_output("pgrep -P %s" % master).split())


def verify_dyn(host):
    return lb_verify(host, {"locations": [{"path": "/dyn"}], "requests": 120, "deadline": 20})


@pytest.fixture
def first_records_again(host):
    """After the test: the first records back, and nginx following them
    (bounded), so no other test sees the changed ones."""
    yield
    set_records(host, FIRST)
    deadline, result = time.monotonic() + 20, None
    while time.monotonic() < deadline:
        result = verify_dyn(host)
        if result["passed"]:
            break
        time.sleep(1)
    assert result["passed"] is True, result.get("msg")


def test_nginx_is_at_least_1_27_3(host):
    version = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", host.run("nginx -v").stderr).groups()
    assert tuple(int(part) for part in version) >= (1, 27, 3)


def test_the_role_writes_resolve_with_a_resolver_and_a_zone(host):
    dump = host.check_output("nginx -T 2>/dev/null")
    block = re.search(r"(?ms)^upstream dyn \{\n(.*?)^\}", dump).group(1)
    lines = [line.strip() for line in block.splitlines()]
    wanted = ["zone dyn 64k;", "resolver 127.0.0.53 ipv6=off;", "resolver_timeout 2s;", "server %s:7001 resolve;" % NAME]
    assert [line for line in lines if line in wanted] == wanted, block


def test_lb_verify_counts_each_address_of_the_name_as_a_backend(host):
    result = verify_dyn(host)
    assert result["passed"] is True, result.get("msg")
    dyn = result["locations"][0]
    assert dyn["counts"] == {"127.0.0.2:7001": 60, "127.0.0.3:7001": 60}
    assert dyn["expected"] == dyn["counts"]


def test_nginx_follows_changed_records_under_load_without_a_reload(host, first_records_again):
    before = nginx_processes(host)
    with Load(host.backend.get_hostname(), "/dyn", concurrency=8, max_seconds=30, rate=400,
              header="X-Upstream-Addr") as load:
        changed_at = time.time()
        set_records(host, CHANGED)
        time.sleep(TTL + 3)
    assert nginx_processes(host) == before
    assert load.result["failed"] == 0 and not load.failures(), load.result
    old = {"%s:7001" % address for address in FIRST}
    new = {"%s:7001" % address for address in CHANGED}
    assert set(load.versions(before=changed_at)) == old
    # Rounds of one second: every round begun a TTL and a round after the change is answered by the new set alone.
    followed = load.versions(after=changed_at + TTL + 1)
    assert set(followed) == new and sum(followed.values()) >= 400, followed
    print("resolve: %d requests under load across the change (c=8), %d failed" % (load.result["sent"],
                                                                                  load.result["failed"]))
