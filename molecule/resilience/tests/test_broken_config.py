"""A change that nginx -t rejects fails the play with nginx's own message;
the live file stays byte-identical and every location keeps answering."""

import pytest

from lbcheck import count_backends, default_upstreams, run_playbook

LIVE = "/etc/nginx/conf.d/upstream.conf"
PATHS = ["/proxy", "/roundrobin", "/leastconn", "/iphash", "/weighted"]


def with_roundrobin_servers(*addresses):
    return {"load_balancer_upstreams": default_upstreams(roundrobin=[{"address": address} for address in addresses])}


@pytest.mark.parametrize("change, nginx_says", [
    (with_roundrobin_servers("127.0.0.1:7001", "no-such-host.invalid:7002"), "host not found in upstream"),
    ({"load_balancer_extra_directives": ["proxy_buffering maybe"]}, "invalid value \"maybe\""),
    # An unknown directive no longer gets this far (the role's allow-list names
    # it); a size nginx cannot read does.
    ({"load_balancer_extra_directives": ["client_max_body_size 1x"]},
     "\"client_max_body_size\" directive invalid value"),
], ids=["unresolvable upstream host", "bad value of a directive", "bad size of a directive"])
def test_rejected_candidate_never_goes_live(host, change, nginx_says, figure):
    before = host.file(LIVE).md5sum
    run = run_playbook("playbooks/site.yml", change)
    assert run.returncode != 0
    assert nginx_says in run.stdout, run.stdout[-3000:]
    assert host.file(LIVE).md5sum == before
    for path in PATHS:
        counts = count_backends(host, path, 6)
        assert sum(n for key, n in counts.items() if key.isdigit()) == 6, (path, counts)
    figure("rejected: " + nginx_says, "live file unchanged, %d locations answer" % len(PATHS))


def test_a_clash_with_another_file_puts_the_previous_file_back(host):
    """The candidate is valid alone but clashes with another conf.d file: the
    whole-config check fails after the write, and the previous file returns."""
    before = host.file(LIVE).md5sum
    # The other file holds an upstream that only the new candidate adds: the
    # live config with it is still valid (so nginx.conf's own check passes),
    # the new upstream.conf alone is valid, together they clash.
    host.run_expect([0], "printf 'upstream extra_pool { server 127.0.0.1:7001; }\\n' > /etc/nginx/conf.d/clash.conf")
    try:
        upstreams = default_upstreams() + [{"name": "extra_pool", "servers": [{"address": "127.0.0.1:7002"}]}]
        run = run_playbook("playbooks/site.yml", {"load_balancer_upstreams": upstreams})
        assert run.returncode != 0
        assert "duplicate upstream \"extra_pool\"" in run.stdout, run.stdout[-3000:]
        assert "the previous file is back" in run.stdout
        assert host.file(LIVE).md5sum == before
        assert not host.run("ls /etc/nginx/conf.d/ | grep -v -e upstream.conf -e clash.conf").stdout.strip()
    finally:
        host.run_expect([0], "rm -f /etc/nginx/conf.d/clash.conf")
    assert count_backends(host, "/roundrobin", 6) == {"7001": 2, "7002": 2, "7003": 2}
