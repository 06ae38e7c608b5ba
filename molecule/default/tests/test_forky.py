"""Debian's next release, forky (nginx 1.30): the version the role read
decides what it writes, and the sticky upstream (nginx >= 1.29.6) keeps a
client that returns its cookie on one backend while new clients spread by
the weights (2,1,1, exactly: the upstream has a zone). Requests go to
127.0.0.1 inside the host, bounded in count and time."""

import json
import re

import pytest

from lbcheck import _quote, lb_verify, upstream_block, upstream_servers

testinfra_hosts = ["edgeops-molecule-forky"]

# Runs on the target's python3: `clients` clients one after the other, each
# sending `requests` GETs of `path` on one keep-alive connection; with
# `keep` a client sends back the cookie the first answer set (or the cookie
# given as the 6th argument from its first request). Prints each client's
# {X-Backend port: responses} and its cookie.
_CLIENTS = r'''
import http.client, json, re, sys, time
path, clients, requests, keep, name = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "keep", sys.argv[5]
start = sys.argv[6] if len(sys.argv) > 6 else None
deadline, out = time.monotonic() + 60, []
for _ in range(clients):
    conn, cookie, counts = http.client.HTTPConnection("127.0.0.1", 80, timeout=5), start, {}
    for _ in range(requests):
        if time.monotonic() > deadline:
            break
        conn.request("GET", path, headers={"Cookie": "%s=%s" % (name, cookie)} if cookie else {})
        r = conn.getresponse()
        r.read()
        set_cookie = r.getheader("Set-Cookie") or ""
        found = re.search(r"(?:^|, )%s=([^;,\s]*)" % re.escape(name), set_cookie)
        if keep and found:
            cookie = found.group(1)
        key = r.getheader("X-Backend") if r.status == 200 else "status %d" % r.status
        counts[key.rsplit(":", 1)[-1]] = counts.get(key.rsplit(":", 1)[-1], 0) + 1
    conn.close()
    out.append({"counts": counts, "cookie": cookie})
print(json.dumps(out))
'''
COOKIE = "edgeops_srv"


def clients(host, path, number, requests, keep, cookie=""):
    mode = "keep" if keep else "new"
    argv = (_quote(_CLIENTS), path, number, requests, mode, COOKIE, cookie)
    result = host.run("python3 -c %s %s %d %d %s %s %s" % argv)
    assert result.rc == 0, result.stderr
    return json.loads(result.stdout)


def test_nginx_is_1_30(host):
    assert re.match(r"nginx version: nginx/1\.30\.[0-9]+$", host.run("nginx -v").stderr.strip())


def test_the_config_is_written_for_nginx_1_30(host):
    conf = host.check_output("cat /etc/nginx/conf.d/upstream.conf")
    block = upstream_block(conf, "sticky")
    assert "    sticky cookie edgeops_srv expires=1h path=/ httponly samesite=lax;" in block.splitlines()
    # 1.29.7's defaults: HTTP/1.1 and an empty Connection header to the backends.
    assert "proxy_http_version" not in conf
    assert "    http2 on;" in conf and not re.search(r"(?m)^\s*listen [^;]*http2", conf)
    assert host.run("nginx -t").rc == 0


def test_a_client_that_keeps_the_cookie_stays_on_one_backend(host):
    seen = clients(host, "/sticky", 1, 30, keep=True)[0]
    assert seen["cookie"], seen
    assert len(seen["counts"]) == 1 and list(seen["counts"].values()) == [30], seen


def test_new_clients_spread_exactly_by_the_weights(host):
    # Each a new client: one request without a cookie; nginx still sets it.
    seen = clients(host, "/sticky", 40, 1, keep=False)
    counts = {}
    for client in seen:
        for port, number in client["counts"].items():
            counts[port] = counts.get(port, 0) + number
    assert counts == {"7001": 20, "7002": 10, "7003": 10}, counts


def test_lb_verify_judges_the_sticky_upstream(host):
    result = lb_verify(host, {"locations": [{"path": "/sticky"}], "requests": 120})
    assert result["passed"] is True, result.get("msg")
    sticky = result["locations"][0]
    assert sticky["counts"] == {"127.0.0.1:7001": 60, "127.0.0.1:7002": 30, "127.0.0.1:7003": 30}
    assert len(sticky["sessions"]) == 3
    assert all(len(one) == 1 and list(one.values()) == [30] for one in sticky["sessions"]), sticky["sessions"]


def upstream_server(host, **args):
    """upstream_server's result on this host (ad hoc, as a task would run it), failed or not."""
    try:
        return host.ansible("edgeops.nginx_lb.upstream_server", " ".join("%s=%s" % item for item in args.items()),
                            check=False)
    except host.ansible.AnsibleException as exc:
        return exc.result


@pytest.fixture
def bound_to_7003(host):
    """The cookie of a client that nginx bound to 7003 (new clients take
    turns 2:1:1; a backend's idle keep-alive connection that it closed may
    send one elsewhere: up to 12 new clients, one request each); afterwards
    7003 is enabled again and the upstream as the role wrote it."""
    seen = clients(host, "/sticky", 12, 1, keep=True)
    found = [client for client in seen if client["counts"] == {"7003": 1}]
    assert found and found[0]["cookie"], seen
    yield found[0]["cookie"]
    result = upstream_server(host, upstream="sticky", server="127.0.0.1:7003", state="enabled")
    assert not result.get("failed"), result
    assert "drain" not in upstream_block(host.check_output("cat /etc/nginx/conf.d/upstream.conf"), "sticky")


def test_drained_is_nginx_s_drain_bound_clients_stay_new_ones_go_elsewhere(host, bound_to_7003):
    result = upstream_server(host, upstream="sticky", server="127.0.0.1:7003", state="drained", timeout=30)
    assert result.get("changed") and not result.get("failed"), result
    conf = host.check_output("cat /etc/nginx/conf.d/upstream.conf")
    assert upstream_servers(conf, "sticky")["127.0.0.1:7003"] == " drain"
    # The client bound by its cookie finishes on the drained server.
    bound = clients(host, "/sticky", 1, 10, keep=True, cookie=bound_to_7003)[0]
    assert bound["counts"] == {"7003": 10}, bound
    # New clients go elsewhere, by the remaining weights 2:1.
    new = clients(host, "/sticky", 30, 1, keep=False)
    counts = {}
    for client in new:
        for port, number in client["counts"].items():
            counts[port] = counts.get(port, 0) + number
    assert counts == {"7001": 20, "7002": 10}, counts
