"""TLS termination on the edge host (load_balancer_tls: selfsigned), checked
from inside the host against 127.0.0.1 (loopback): protocols, the chain,
ALPN h2, the redirect, exact balancing through https, and bad TLS input named
before anything changes while the live config keeps serving."""

import json
import subprocess

import pytest

from edgecheck import CERT, NAME, _REDIRECT, count_tls, handshake
from lbcheck import _quote, lb_verify, run_playbook

testinfra_hosts = ["lb"]

N = 20


@pytest.mark.parametrize("flag", ["-tls1", "-tls1_1"])
def test_tls_1_0_and_1_1_are_refused(host, flag):
    # SECLEVEL=0 lets the client offer the old protocol: the refusal is the server's.
    out = handshake(host, flag, "-cipher", "'DEFAULT@SECLEVEL=0'")
    assert out.rc != 0, out.stdout
    assert "alert protocol version" in out.stdout or "unsupported protocol" in out.stdout, out.stdout


@pytest.mark.parametrize("flag, protocol", [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")])
def test_tls_1_2_and_1_3_are_accepted_and_the_chain_verifies(host, flag, protocol):
    out = handshake(host, flag, "-CAfile", CERT, "-verify_return_error", "-verify_hostname", NAME)
    assert out.rc == 0, out.stdout
    assert "Protocol  : %s" % protocol in out.stdout or "New, %s" % protocol in out.stdout
    assert "Verify return code: 0 (ok)" in out.stdout


def test_alpn_offers_h2(host):
    out = handshake(host, "-alpn", "h2,http/1.1")
    assert "ALPN protocol: h2" in out.stdout, out.stdout


def test_the_certificate_names_the_domain_and_127_0_0_1(host):
    text = host.check_output("openssl x509 -in %s -noout -ext subjectAltName" % CERT)
    assert "DNS:%s" % NAME in text and "IP Address:127.0.0.1" in text
    assert host.file("/etc/nginx/tls/edgeops_lb.key").mode == 0o600


def test_hsts_is_sent_over_https(host):
    out = host.check_output("python3 -c %s" % _quote(
        "import http.client, ssl; c = http.client.HTTPSConnection('127.0.0.1', 443, timeout=5, "
        "context=ssl.create_default_context(cafile=%r)); c.request('GET', '/roundrobin'); "
        "print(c.getresponse().getheader('Strict-Transport-Security'))" % CERT))
    assert out == "max-age=31536000"


def test_http_redirects_to_https_with_path_and_query(host):
    out = host.check_output("python3 -c %s %s %s" % (_quote(_REDIRECT), _quote("/roundrobin/a/b?x=1&y=two"), NAME))
    assert json.loads(out) == [301, "https://%s/roundrobin/a/b?x=1&y=two" % NAME]


def test_every_location_balances_exactly_through_https(host):
    assert count_tls(host, "/roundrobin", 3 * N) == {"7001": N, "7002": N, "7003": N}
    assert count_tls(host, "/weighted", 4 * N) == {"7001": 2 * N, "7002": N, "7003": N}
    result = lb_verify(host, {"url": "https://127.0.0.1:443", "ca_file": CERT, "requests": 60, "clients": 4})
    assert result.get("passed") is True, result.get("msg")
    assert [loc["path"] for loc in result["locations"]] == ["/proxy", "/roundrobin", "/leastconn", "/iphash",
                                                            "/weighted"]


@pytest.fixture(scope="module")
def controller_pair(tmp_path_factory):
    """A certificate and the key of ANOTHER certificate, on the controller."""
    tmp = tmp_path_factory.mktemp("pair")
    for name in ("a", "b"):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-days", "1", "-subj", "/CN=%s.example.test" % name, "-keyout", str(tmp / (name + ".key")),
                        "-out", str(tmp / (name + ".crt"))], check=True, capture_output=True, timeout=60)
    return tmp


def bad_run(host, tls, words, **extra):
    """site.yml with `tls` fails naming the field; nginx.conf, upstream.conf
    and the certificate are unchanged; https still balances."""
    files = ("/etc/nginx/nginx.conf", "/etc/nginx/conf.d/upstream.conf", CERT)
    before = [host.file(path).sha256sum for path in files]
    variables = {"load_balancer_tls": tls, "nginx_lb_verify": False, "nginx_lb_app_group": "no_such_group"}
    variables.update(extra)
    run = run_playbook("playbooks/site.yml", variables)
    assert run.returncode != 0
    for word in words:
        assert word in run.stdout, run.stdout[-3000:]
    assert [host.file(path).sha256sum for path in files] == before
    assert count_tls(host, "/roundrobin", 3) == {"7001": 1, "7002": 1, "7003": 1}


def test_unknown_mode_is_named(host):
    bad_run(host, {"mode": "acme-ish"}, ["load_balancer_tls.mode: must be one of none, selfsigned, provided"])


def test_provided_without_cert_and_key_is_named(host):
    bad_run(host, {"mode": "provided"}, ["load_balancer_tls.cert: is required with mode provided",
                                         "load_balancer_tls.key: is required with mode provided"])


def test_provided_files_that_do_not_exist_are_named(host, controller_pair):
    bad_run(host, {"mode": "provided", "cert": str(controller_pair / "a.crt"), "key": str(controller_pair / "nope.key")},
            ["load_balancer_tls.key: file %s not found on the controller" % (controller_pair / "nope.key")])


def test_a_key_that_is_not_the_certificates_is_named(host, controller_pair):
    bad_run(host, {"mode": "provided", "cert": str(controller_pair / "a.crt"), "key": str(controller_pair / "b.key")},
            ["load_balancer_tls.key: does not belong to the certificate (CN=a.example.test)"])


def test_a_main_config_nginx_refuses_never_goes_live(host):
    """A cipher name of the right shape that OpenSSL does not know: the
    filter lets it through, the host's nginx -t refuses the candidate."""
    bad_run(host, {"mode": "selfsigned", "domains": [NAME]}, ["nginx -t rejected /etc/nginx/nginx.conf"],
            load_balancer_ssl_ciphers="NO-SUCH-CIPHER")
