"""upstream_server's decisions and its wait, without a host: the request
checked and named, the servers it acts on, the state file it leaves, the
sockets read from /proc (a fake tree here), the wait's verdict."""

import ipaddress
import json
import os

import pytest

from ansible_collections.edgeops.nginx_lb.plugins.module_utils import _drain
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._drain import DrainError

RECORD = {
    "upstreams": [
        {"name": "pool", "servers": [{"address": "10.0.0.11:7001"}, {"address": "10.0.0.12:7001"},
                                     {"address": "10.0.0.12:7002"}, {"address": "app3.example:7001"}]},
        {"name": "other", "servers": [{"address": "127.0.0.1:7001"}]},
    ],
    "hosts": {"app2": ["10.0.0.12:7001", "10.0.0.12:7002"]},
}


def errors(**kwargs):
    args = dict(upstream="pool", server="10.0.0.12:7001")
    args.update(kwargs)
    with pytest.raises(DrainError) as caught:
        _drain.check_request(**args)
    return caught.value.errors


@pytest.mark.parametrize("kwargs, words", [
    ({"upstream": "pool;"}, "upstream: must be an upstream name"),
    ({"upstream": "pool\n"}, "upstream: must be an upstream name"),
    ({"upstream": None}, "upstream: must be an upstream name or a non-empty list of them"),
    ({"upstream": []}, "upstream: must be an upstream name or a non-empty list of them"),
    ({"upstream": ["pool", "a b"]}, "upstream[1]: must be an upstream name"),
    ({"upstream": ["pool", 3]}, "upstream[1]: must be an upstream name"),
    ({"upstream": ["pool", "other", "pool"]}, "upstream[2]: pool is named twice"),
    ({"upstream": "pool,other"}, "upstream: must be an upstream name"),
    ({"server": None}, "server, host: give exactly one of them, got neither"),
    ({"host": "app2"}, "server, host: give exactly one of them, got both"),
    ({"server": "10.0.0.12"}, "server: must be 'host:port'"),
    ({"server": "10.0.0.12:7001 down"}, "server: must be 'host:port'"),
    ({"server": "10.0.0.12:７００１"}, "server: must be 'host:port'"),
    ({"server": None, "host": "app2;x"}, "host: must be an inventory host name"),
    ({"state": "drain"}, "state: must be one of enabled, drained, disabled"),
    ({"weight": 0}, "weight: must be an integer 1-1000"),
    ({"weight": 1001}, "weight: must be an integer 1-1000"),
    ({"weight": "５"}, "weight: must be an integer 1-1000"),
    ({"weight": True}, "weight: must be an integer 1-1000"),
    ({"timeout": -1}, "timeout: must be an integer 0-86400"),
    ({"timeout": 86401}, "timeout: must be an integer 0-86400"),
])
def test_check_request_names_the_wrong_field(kwargs, words):
    assert any(words in error for error in errors(**kwargs)), errors(**kwargs)


def test_check_request_normalises():
    assert _drain.check_request("pool", server="10.0.0.12:07001", state="drained", weight="5", timeout=None) == {
        "upstream": ["pool"], "server": "10.0.0.12:7001", "host": None, "state": "drained", "weight": 5, "timeout": 60}
    assert _drain.check_request(["pool", "other"], host="app2")["upstream"] == ["pool", "other"]


@pytest.mark.parametrize("server, host, expected", [
    ("10.0.0.12:7001", None, ["10.0.0.12:7001"]),
    (None, "app2", ["10.0.0.12:7001", "10.0.0.12:7002"]),
    (None, "10.0.0.12", ["10.0.0.12:7001", "10.0.0.12:7002"]),
    (None, "APP3.example", ["app3.example:7001"]),
    (None, "10.0.0.11", ["10.0.0.11:7001"]),
])
def test_resolve_targets(server, host, expected):
    assert _drain.resolve_targets(RECORD, "pool", server, host) == expected


@pytest.mark.parametrize("upstream, server, host, words", [
    ("nope", "10.0.0.12:7001", None, "upstream: no upstream 'nope' on this load balancer (it has: other, pool)"),
    ("pool", "10.0.0.13:7001", None, "server: 10.0.0.13:7001 is not a server of upstream pool"),
    ("other", None, "app2", "host: app2 has no server in upstream other (it has: 127.0.0.1:7001)"),
    ("pool", None, "app9", "host: app9 has no server in upstream pool"),
])
def test_resolve_targets_names_what_does_not_exist(upstream, server, host, words):
    with pytest.raises(DrainError) as caught:
        _drain.resolve_targets(RECORD, upstream, server, host)
    assert words in str(caught.value)


def test_resolve_all_acts_on_every_upstream_named():
    record = dict(RECORD, upstreams=RECORD["upstreams"] + [
        {"name": "backup", "servers": [{"address": "10.0.0.12:7002"}, {"address": "10.0.0.13:7001"}]}])
    by_upstream = _drain.resolve_all(record, ["pool", "backup"], host="app2")
    assert by_upstream == {"pool": ["10.0.0.12:7001", "10.0.0.12:7002"], "backup": ["10.0.0.12:7002"]}
    assert _drain.addresses_of(by_upstream) == ["10.0.0.12:7001", "10.0.0.12:7002"]


def test_resolve_all_names_every_upstream_without_the_host():
    with pytest.raises(DrainError) as caught:
        _drain.resolve_all(RECORD, ["other", "pool", "nope"], host="app2")
    assert caught.value.errors == [
        "host: app2 has no server in upstream other (it has: 127.0.0.1:7001)",
        "upstream: no upstream 'nope' on this load balancer (it has: other, pool)"]


A, B = "10.0.0.12:7001", "10.0.0.12:7002"


@pytest.mark.parametrize("before, addresses, state, weight, after", [
    ({}, [A], "drained", None, {"upstreams": {"pool": {A: {"state": "drained"}}}}),
    ({}, [A, B], "disabled", 5, {"upstreams": {"pool": {A: {"state": "disabled", "weight": 5},
                                                        B: {"state": "disabled", "weight": 5}}}}),
    # drained keeps an earlier weight; enabled with a weight keeps only it.
    ({"upstreams": {"pool": {A: {"weight": 3}}}}, [A], "drained", None,
     {"upstreams": {"pool": {A: {"state": "drained", "weight": 3}}}}),
    ({"upstreams": {"pool": {A: {"state": "drained", "weight": 3}}}}, [A], "enabled", 4,
     {"upstreams": {"pool": {A: {"weight": 4}}}}),
    # enabled without a weight: back to the role's variables, entry gone.
    ({"upstreams": {"pool": {A: {"state": "drained", "weight": 3}, B: {"state": "drained"}}}}, [A], "enabled", None,
     {"upstreams": {"pool": {B: {"state": "drained"}}}}),
    ({"upstreams": {"pool": {A: {"state": "drained"}}, "other": {"x:1": {"weight": 2}}}}, [A], "enabled", None,
     {"upstreams": {"other": {"x:1": {"weight": 2}}}}),
    ({}, [A], "enabled", None, {"upstreams": {}}),
])
def test_next_state(before, addresses, state, weight, after):
    copy = json.loads(json.dumps(before))
    assert _drain.next_state(before, "pool", addresses, state, weight) == after
    assert before == copy


def test_next_state_all_changes_each_upstream_named():
    before = {"upstreams": {"other": {"x:1": {"weight": 2}}}}
    after = _drain.next_state_all(before, {"pool": [A, B], "other": ["x:1"]}, "drained")
    assert after == {"upstreams": {"pool": {A: {"state": "drained"}, B: {"state": "drained"}},
                                   "other": {"x:1": {"state": "drained", "weight": 2}}}}
    assert _drain.next_state_all(after, {"pool": [A, B], "other": ["x:1"]}, "enabled") == {"upstreams": {}}
    assert before == {"upstreams": {"other": {"x:1": {"weight": 2}}}}


def test_state_text_is_stable_and_checked():
    state = {"upstreams": {"pool": {B: {"state": "drained"}, A: {"weight": 2}}}}
    text = _drain.dump_state(state)
    assert _drain.parse_state(text) == state and _drain.dump_state(_drain.parse_state(text)) == text
    assert _drain.parse_state(None) == {} and _drain.parse_state(" \n") == {}
    for bad, words in [("{", "upstream_state.json: not JSON"), ("[]", "must be a dict"),
                       ('{"upstreams": []}', "must be a dict")]:
        with pytest.raises(DrainError, match=words):
            _drain.parse_state(bad)


TCP = """  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F91 0C00000A:1B59 01 00000000:00000000 00:00000000 00000000     0        0 111 1 0 20 4 30 10 -1
   1: 0100007F:1F92 0C00000A:1B59 06 00000000:00000000 00:00000000 00000000     0        0 112 1 0 20 4 30 10 -1
   2: 0100007F:1F93 0C00000A:1B5A 01 00000000:00000000 00:00000000 00000000     0        0 113 1 0 20 4 30 10 -1
   3: 0100007F:1F94 0C00000A:1B59 01 00000000:00000000 00:00000000 00000000     0        0 999 1 0 20 4 30 10 -1
   4: 0100007F:1F94 garbage 01
"""
TCP6 = """  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:9C40 0000000000000000FFFF00000C00000A:1B59 01 00000000:00000000 00:00000000 00000000 0 0 114 1 0
   1: 00000000000000000000000001000000:9C41 00000000000000000000000001000000:1B59 01 00000000:00000000 00:00000000 00000000 0 0 115 1 0
"""


def test_proc_net_tcp_parsed_little_endian_v4_and_v6():
    entries = _drain.parse_proc_net_tcp(TCP) + _drain.parse_proc_net_tcp(TCP6)
    assert len(entries) == 6
    assert entries[0] == ((ipaddress.ip_address("127.0.0.1"), 8081), (ipaddress.ip_address("10.0.0.12"), 7001),
                          "01", "111", "0")
    assert entries[4][1] == (ipaddress.ip_address("::ffff:10.0.0.12"), 7001)
    assert entries[5][1] == (ipaddress.ip_address("::1"), 7001)


@pytest.mark.parametrize("endpoints, inodes, uids, expected", [
    # 111 and 114 (an IPv6 socket to the IPv4 peer); 112 is TIME_WAIT, 113 another port, 999 not nginx's.
    ({(ipaddress.ip_address("10.0.0.12"), 7001)}, {"111", "112", "113", "114", "115"}, set(), 2),
    ({(ipaddress.ip_address("10.0.0.12"), 7001)}, {"999"}, set(), 1),
    ({(ipaddress.ip_address("10.0.0.12"), 7002)}, {"111", "113"}, set(), 1),
    ({(ipaddress.ip_address("::1"), 7001)}, {"115"}, set(), 1),
    (set(), {"111"}, set(), 0),
    # Descriptors unreadable (a container without CAP_SYS_PTRACE): the owner's uid (33, www-data) counts.
    ({(ipaddress.ip_address("10.0.0.12"), 7001)}, set(), {"33"}, 2),
    ({(ipaddress.ip_address("10.0.0.12"), 7001)}, set(), {"34"}, 0),
])
def test_count_connections_only_established_nginx_sockets_to_the_targets(endpoints, inodes, uids, expected):
    entries = _drain.parse_proc_net_tcp(TCP.replace("     0        0 111", "    33        0 111")
                                        .replace("     0        0 999", "    33        0 999")
                                        .replace("     0        0 112", "    33        0 112"))
    entries += _drain.parse_proc_net_tcp(TCP6)
    assert _drain.count_connections(entries, endpoints, inodes, uids) == expected


def test_endpoints_of_resolves_names_and_keeps_ips():
    def resolve(host, port, family, kind):
        assert host == "app3.example"
        return [(2, 1, 6, "", ("10.0.0.13", port)), (10, 1, 6, "", ("::ffff:10.0.0.14", port, 0, 0))]
    assert _drain.endpoints_of(["[::1]:7001", "10.0.0.12:7002", "app3.example:7003"], resolve=resolve) == {
        (ipaddress.ip_address("::1"), 7001), (ipaddress.ip_address("10.0.0.12"), 7002),
        (ipaddress.ip_address("10.0.0.13"), 7003), (ipaddress.ip_address("10.0.0.14"), 7003)}


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


@pytest.mark.parametrize("observations, timeout, drained, waited, left", [
    ([(0, 0)], 60, True, 0.0, (0, 0)),
    ([(2, 20), (2, 12), (1, 3), (1, 0), (0, 0)], 60, True, 4.0, (0, 0)),
    # Old workers gone, a connection left (not in flight of an old worker): still waits.
    ([(2, 5), (0, 1), (0, 0)], 60, True, 2.0, (0, 0)),
    ([(2, 20)] * 100, 5, False, 5.0, (2, 20)),
    ([(1, 3)] * 100, 0, False, 0.0, (1, 3)),
])
def test_wait_drained(observations, timeout, drained, waited, left):
    clock, seen = Clock(), iter(observations)
    result = _drain.wait_drained(lambda: next(seen), timeout, clock=clock, sleep=clock.sleep, interval=1.0)
    assert result["drained"] is drained and result["waited"] == waited
    assert (result["old_workers"], result["connections"]) == left
    assert (result["old_workers_at_start"], result["connections_at_start"]) == observations[0]
    if not drained:
        message = _drain.timeout_message(result, [A], timeout)
        assert "%d connection(s) to %s" % (left[1], A) in message and "%d old worker(s)" % left[0] in message


def fake_proc(tmp_path, processes, tcp=TCP):
    """A /proc tree: {pid: (ppid, start time, cmdline, [socket inodes])} and net/tcp."""
    for pid, (ppid, start, cmdline, inodes) in processes.items():
        base = tmp_path / str(pid)
        (base / "fd").mkdir(parents=True)
        fields = ["S", str(ppid)] + ["0"] * 17 + [start]
        (base / "stat").write_text("%d (nginx) %s\n" % (pid, " ".join(fields)))
        (base / "cmdline").write_text(cmdline)
        for index, inode in enumerate(inodes):
            os.symlink("socket:[%s]" % inode, base / "fd" / str(index))
        os.symlink("/dev/null", base / "fd" / "99")
    (tmp_path / "net").mkdir()
    (tmp_path / "net" / "tcp").write_text(tcp)
    return _drain.Proc(str(tmp_path))


def test_proc_children_alive_and_the_observer(tmp_path):
    proc = fake_proc(tmp_path, {
        10: (1, "100", "nginx: master process nginx", []),
        11: (10, "200", "nginx: worker process is shutting down", ["111"]),
        12: (10, "300", "nginx: worker process", ["113"]),
        20: (1, "400", "python3 app", ["999"]),
    })
    assert proc.children(10) == {11: "200", 12: "300"}
    assert proc.is_nginx_master(10) and not proc.is_nginx_master(20) and not proc.is_nginx_master(77)
    # 11 still runs; 13 is gone; 12 started again under another start time (a reused pid) is not the old one.
    assert proc.alive({11: "200", 13: "500", 12: "299"}) == [11]
    observe = _drain.observer(proc, 10, {11: "200"}, {(ipaddress.ip_address("10.0.0.12"), 7001)})
    assert observe() == (1, 1)
    assert _drain.observer(proc, 10, {}, {(ipaddress.ip_address("10.0.0.12"), 7002)})() == (0, 1)


@pytest.mark.parametrize("content, words", [
    (None, r"nginx: not running \(cannot read its pid file"),
    ("12ab\n", "holds '12ab', not a pid"),
    ("20\n", "process 20 of its pid file"),
])
def test_read_pid_refuses_what_is_not_a_running_master(tmp_path, content, words):
    proc = fake_proc(tmp_path / "proc", {20: (1, "1", "python3 app", [])})
    pid_file = tmp_path / "nginx.pid"
    if content is not None:
        pid_file.write_text(content)
    with pytest.raises(DrainError, match=words):
        _drain.read_pid(str(pid_file), proc)


def test_read_pid_of_a_master(tmp_path):
    proc = fake_proc(tmp_path / "proc", {10: (1, "1", "nginx: master process nginx", [])})
    (tmp_path / "nginx.pid").write_text("10\n")
    assert _drain.read_pid(str(tmp_path / "nginx.pid"), proc) == 10


V6_RECORD = {"upstreams": [{"name": "v6", "servers": [{"address": "[::1]:7001"}, {"address": "[::1]:7002"},
                                                      {"address": "[2001:db8::5]:7001"}]}]}


@pytest.mark.parametrize("host, expected", [
    ("::1", ["[::1]:7001", "[::1]:7002"]),
    ("[::1]", ["[::1]:7001", "[::1]:7002"]),
    ("0:0:0:0:0:0:0:1", ["[::1]:7001", "[::1]:7002"]),
    ("2001:DB8:0::5", ["[2001:db8::5]:7001"]),
    ("[2001:db8::5]", ["[2001:db8::5]:7001"]),
])
def test_host_takes_every_ipv6_form(host, expected):
    request = _drain.check_request("v6", host=host)
    assert _drain.resolve_targets(V6_RECORD, "v6", None, request["host"]) == expected


@pytest.mark.parametrize("host", ["::1]", "[::1", "[[::1]]", ":::1", "[::1]:7001", "::g", "-app", "app 2", "app\n",
                                  "10.0.0.256", 7])
def test_host_refuses_what_is_no_host(host):
    assert any(error.startswith("host: must be an inventory host name") for error in errors(server=None, host=host))


@pytest.mark.parametrize("text, words", [
    ('"a string"', "upstream_state.json: must be a dict, got 'a string'"),
    ('[1]', "upstream_state.json: must be a dict, got [1]"),
    ('{"upstreams": "x"}', "upstream_state.json: upstreams: must be a dict, got 'x'"),
    ('{"upstreams": {"pool": "x"}}', "upstream_state.json: upstreams.pool: must be a dict, got 'x'"),
    ('{"upstreams": {"pool": ["10.0.0.12:7001"]}}', "upstreams.pool: must be a dict, got ['10.0.0.12:7001']"),
    ('{"upstreams": {"pool": {"10.0.0.12:7001": "drained"}}}',
     "upstreams.pool[10.0.0.12:7001]: must be a dict, got 'drained'"),
    ('{"upstreams": {"pool": {"10.0.0.12:7001": null}}}', "upstreams.pool[10.0.0.12:7001]: must be a dict, got None"),
])
def test_a_corrupted_state_file_is_named_not_a_crash(text, words):
    with pytest.raises(DrainError) as caught:
        state = _drain.parse_state(text)
        _drain.next_state(state, "pool", ["10.0.0.12:7001"], "drained")
    assert any(words in error for error in caught.value.errors), caught.value.errors


@pytest.mark.parametrize("record, words", [
    ("a string", "model_record.json: must be a dict, got 'a string'"),
    ({"upstreams": "pool"}, "model_record.json: upstreams: must be a list, got 'pool'"),
    ({"upstreams": ["pool"]}, "model_record.json: upstreams[0]: must be a dict, got 'pool'"),
    ({"upstreams": [{"name": "pool", "servers": "10.0.0.1:1"}]}, "upstreams[0].servers: must be a list"),
    ({"upstreams": [], "hosts": ["app2"]}, "model_record.json: hosts: must be a dict, got ['app2']"),
    ({"upstreams": [], "hosts": {"app2": "10.0.0.12:7001"}}, "hosts.app2: must be a list, got '10.0.0.12:7001'"),
    ({"upstreams": [], "hosts": {"app2": [7001]}}, "hosts.app2: must be a list of addresses, got [7001]"),
])
def test_a_corrupted_record_is_named_not_a_crash(record, words):
    with pytest.raises(DrainError) as caught:
        _drain.resolve_all(_drain.check_record(record), ["pool"], host="app2")
    assert any(words in error for error in caught.value.errors), caught.value.errors


@pytest.mark.parametrize("sticky, version, state, draining", [
    ({"cookie": "srv"}, "1.30.6", "drained", ["127.0.0.1:7002"]),
    ({"cookie": "srv"}, "1.30.6", "disabled", []),
    ({"cookie": "srv"}, None, "drained", []),   # version unknown: down, as before
    (None, "1.30.6", "drained", []),
])
def test_own_drain_targets_are_the_drained_servers_with_nginx_s_drain(sticky, version, state, draining):
    from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model_vars import model_from_vars
    upstream = {"name": "app", "servers": [{"address": "127.0.0.1:7001"}, {"address": "127.0.0.1:7002"},
                                           {"address": "127.0.0.1:7003"}]}
    if sticky:
        upstream["sticky"] = sticky
    model = model_from_vars([upstream], [], nginx_version=version, overrides={"upstreams": {"app": {
        "127.0.0.1:7002": {"state": state}, "127.0.0.1:7003": {"state": state}}}})
    # 7003 is drained too but not a target of this request.
    assert _drain.own_drain_targets(model, ["127.0.0.1:7002"]) == draining
