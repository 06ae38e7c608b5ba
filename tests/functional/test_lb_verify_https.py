"""lb_verify over https against a private loopback nginx with certificates
made here (a private CA): exact counts through TLS with ca_file, refused
without the CA, accepted with validate_certs=false, the name checked and sent
as SNI from the URL's host. Loopback only; the nginx started here is stopped
by its PID; every poll is bounded in count and time."""

import json
import subprocess

import pytest

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._http_poll import poll

from helpers.localnet import free_port, needs_nginx
from helpers.nginx_proc import running_nginx
from helpers.processes import run_module

pytestmark = needs_nginx


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True, timeout=60)


def make_certs(tmp):
    """A CA; `good` for DNS:localhost (signed by the CA); `other` for DNS:other.test (self-signed, no IP)."""
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-subj", "/CN=edgeops test CA", "-keyout", "ca.key", "-out", "ca.crt", cwd=tmp)
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=localhost",
            "-keyout", "good.key", "-out", "good.csr", cwd=tmp)
    (tmp / "good.ext").write_text("subjectAltName=DNS:localhost\n")
    openssl("x509", "-req", "-in", "good.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
            "-extfile", "good.ext", "-out", "good.crt", cwd=tmp)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-subj", "/CN=other.test", "-addext", "subjectAltName=DNS:other.test", "-keyout", "other.key",
            "-out", "other.crt", cwd=tmp)


@pytest.fixture(scope="module")
def tls_lb(tmp_path_factory):
    """nginx on 127.0.0.1:PORT over TLS: SNI `localhost` gets the CA-signed
    certificate, anything else (no SNI) the default `other.test` one;
    /rr balances round robin over three backends naming themselves."""
    tmp = tmp_path_factory.mktemp("tls_lb")
    make_certs(tmp)
    port, backends = free_port(), [free_port() for dummy in range(3)]
    servers = "".join("server { listen 127.0.0.1:%d; location / { add_header X-Backend 127.0.0.1:%d; "
                      "return 200 ok; } }\n" % (b, b) for b in backends)
    conf = tmp / "nginx.conf"
    conf.write_text("""pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
worker_processes 2;
events {{ worker_connections 256; }}
http {{
    access_log off;
    ssl_protocols TLSv1.2 TLSv1.3;
    upstream rr {{ zone rr 64k; {upstream} keepalive 8; }}
    server {{
        listen 127.0.0.1:{port} ssl default_server;
        ssl_certificate {tmp}/other.crt; ssl_certificate_key {tmp}/other.key;
        location / {{ return 421; }}
    }}
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name localhost;
        ssl_certificate {tmp}/good.crt; ssl_certificate_key {tmp}/good.key;
        location /rr {{ proxy_http_version 1.1; proxy_set_header Connection ""; proxy_pass http://rr; }}
    }}
    {servers}
}}
""".format(tmp=tmp, port=port, servers=servers, upstream=" ".join("server 127.0.0.1:%d;" % b for b in backends)))
    with running_nginx(conf, tmp, [port] + backends):
        yield {"port": port, "ca": str(tmp / "ca.crt"), "backends": ["127.0.0.1:%d" % b for b in backends]}


def test_poll_counts_exactly_through_tls_with_the_ca(tls_lb):
    result = poll("https://localhost:%d" % tls_lb["port"], "/rr", 60, ca_file=tls_lb["ca"], deadline_s=30)
    assert result.errors == {} and result.counts == {b: 20 for b in tls_lb["backends"]}


def test_without_the_ca_the_certificate_is_refused(tls_lb):
    result = poll("https://localhost:%d" % tls_lb["port"], "/rr", 3, deadline_s=30)
    assert result.counts == {} and result.errors == {"connection: SSLCertVerificationError": 3}


def test_the_name_is_the_urls_host_and_goes_as_sni(tls_lb):
    """https://127.0.0.1 sends no SNI: nginx answers with its default
    certificate (other.test), which names neither 127.0.0.1 nor localhost."""
    by_ip = poll("https://127.0.0.1:%d" % tls_lb["port"], "/rr", 2, ca_file=tls_lb["ca"], deadline_s=30)
    assert by_ip.counts == {} and list(by_ip.errors) == ["connection: SSLCertVerificationError"]
    unchecked = poll("https://127.0.0.1:%d" % tls_lb["port"], "/rr", 2, validate_certs=False, deadline_s=30)
    # The default server (no SNI) is not the balancer: 421, proving which server block answered.
    assert unchecked.errors == {"status 421": 2}
    via_sni = poll("https://localhost:%d" % tls_lb["port"], "/rr", 3, validate_certs=False, deadline_s=30)
    assert via_sni.failed == 0 and sum(via_sni.counts.values()) == 3


def test_the_module_verifies_through_https(tls_lb):
    args = {"url": "https://localhost:%d" % tls_lb["port"], "requests": 60, "deadline": 30,
            "locations": [{"path": "/rr", "servers": tls_lb["backends"]}]}
    good = run_module("lb_verify", dict(args, ca_file=tls_lb["ca"]))
    assert good.get("failed") is not True, good.get("msg")
    assert good["passed"] is True and good["locations"][0]["counts"] == {b: 20 for b in tls_lb["backends"]}
    refused = run_module("lb_verify", args)
    assert refused["failed"] is True and "SSLCertVerificationError" in json.dumps(refused["locations"][0]["errors"])
    unchecked = run_module("lb_verify", dict(args, validate_certs=False))
    assert unchecked["passed"] is True


def test_a_bad_ca_file_is_named_before_any_request(tmp_path):
    bogus = tmp_path / "not-a-ca.pem"
    bogus.write_text("hello\n")
    args = {"url": "https://localhost:%d" % free_port(), "locations": [{"path": "/", "servers": ["127.0.0.1:1"]}]}
    for path in (str(bogus), str(tmp_path / "missing.pem")):
        result = run_module("lb_verify", dict(args, ca_file=path))
        assert result["failed"] is True and result["msg"].startswith("ca_file: cannot load certificates from %s" % path)
        assert "locations" not in result
