"""HTTP/2 on Debian 13 (nginx 1.26) and forky (nginx 1.30): the role writes
`http2 on;` there, not the `listen ... http2` of nginx before 1.25.1, and
nginx negotiates h2. These hosts alone terminate TLS in this scenario
(molecule.yml's host_vars); requests go to 127.0.0.1 inside the host,
bounded in time."""

import re

testinfra_hosts = ["edgeops-molecule-trixie", "edgeops-molecule-forky"]

CERT = "/etc/nginx/tls/edgeops_lb.crt"


def test_nginx_is_at_least_1_25_1(host):
    version = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", host.run("nginx -v").stderr).groups()
    assert tuple(int(part) for part in version) >= (1, 25, 1)


def test_the_role_writes_http2_on_not_the_listen_parameter(host):
    dump = host.check_output("nginx -T 2>/dev/null")
    assert "    http2 on;" in dump
    listens = re.findall(r"(?m)^\s*listen\s+([^;]*);", dump)
    assert "443 ssl" in listens and not [listen for listen in listens if "http2" in listen], listens


def test_alpn_negotiates_h2_and_the_chain_verifies(host):
    # Only the lines read here: s_client also prints a binary session dump.
    out = host.run("timeout 10 openssl s_client -connect 127.0.0.1:443 -alpn h2,http/1.1 -CAfile %s "
                   "-verify_return_error </dev/null >/tmp/alpn.out 2>&1; rc=$?; grep -a -E "
                   "'ALPN protocol|Verify return code|error' /tmp/alpn.out | tr -cd '[:print:]\\n'; exit $rc" % CERT)
    assert out.rc == 0, out.stdout[-2000:]
    assert "ALPN protocol: h2" in out.stdout and "Verify return code: 0 (ok)" in out.stdout
