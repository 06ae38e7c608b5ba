"""ACME against pebble (Let's Encrypt's test ACME server, in its own
container on the scenario's network): issuance through HTTP-01 answered by
nginx, the issued certificate served and verified against pebble's root,
the challenge path left unredirected, a forced renewal under load with no
failed request and a new certificate served, and an ACME directory that fails
named while the previous certificate keeps serving. Requests are
sent inside the LB container to 127.0.0.1, or to pebble on the scenario's
network; every loop is bounded in count and time."""

import json
import os

import pytest

from edgeops_paths import PEBBLE_CA
from edgecheck import NAME, _REDIRECT, handshake
from lbcheck import _quote, run_playbook

testinfra_hosts = ["lb"]

PEBBLE = "edgeops-edge-pebble"
ROOT = "/tmp/pebble-root.pem"


def acme_tls(**changes):
    tls = {"mode": "acme", "hsts": True, "domains": [NAME], "acme_directory": "https://%s:14000/dir" % PEBBLE,
           "acme_email": "ops@example.test", "acme_ca_file": PEBBLE_CA}
    tls.update(changes)
    return tls


def site(tls, **extra):
    variables = {"load_balancer_tls": tls, "nginx_lb_app_group": "no_such_group"}
    variables.update(extra)
    return run_playbook("playbooks/site.yml", variables)


def served(host):
    """(serial, issuer) of the certificate nginx serves for NAME."""
    out = host.check_output("timeout 10 openssl s_client -connect 127.0.0.1:443 -servername %s </dev/null 2>/dev/null"
                            " | openssl x509 -noout -serial -issuer" % NAME)
    fields = dict(line.split("=", 1) for line in out.splitlines())
    return fields["serial"], fields["issuer"]


@pytest.fixture(scope="module", autouse=True)
def acme(host):
    """The edge host switched to acme (issued by pebble); back to the
    scenario's self-signed certificate afterwards."""
    run = site(acme_tls())
    assert run.returncode == 0, run.stdout[-4000:]
    # pebble's issuing root, from its management API (pebble's TLS is our CA).
    host.check_output("python3 -c %s" % _quote(
        "import ssl, urllib.request; c = ssl.create_default_context(cafile='/etc/nginx/tls/acme_server_ca.pem'); "
        "open(%r, 'wb').write(urllib.request.urlopen('https://%s:15000/roots/0', context=c, timeout=10).read())"
        % (ROOT, PEBBLE)))
    yield run
    # The scenario's own mode again: the self-signed pair is served once more.
    restored = run_playbook("playbooks/site.yml", {"nginx_lb_app_group": "no_such_group"})
    assert restored.returncode == 0, restored.stdout[-4000:]
    assert "Pebble" not in served(host)[1]


def test_the_issued_certificate_is_served_and_verifies_against_pebbles_root(host):
    serial, issuer = served(host)
    assert "Pebble" in issuer
    out = handshake(host, "-CAfile", ROOT, "-verify_return_error", "-verify_hostname", NAME)
    assert out.rc == 0 and "Verify return code: 0 (ok)" in out.stdout, out.stdout


def test_the_challenge_path_is_not_redirected(host):
    out = host.check_output("python3 -c %s %s %s" % (_quote(_REDIRECT), "/.well-known/acme-challenge/no-such-token",
                                                     NAME))
    assert json.loads(out) == [404, None]
    other = host.check_output("python3 -c %s %s %s" % (_quote(_REDIRECT), "/roundrobin?a=1", NAME))
    assert json.loads(other) == [301, "https://%s/roundrobin?a=1" % NAME]


_LOAD = r'''
import http.client, json, ssl, time
context = ssl.create_default_context(cafile="%s")
context.check_hostname = False
ok, failed, kinds, deadline = 0, 0, {}, time.monotonic() + 120
while time.monotonic() < deadline and ok + failed < 200000:
    try:
        c = http.client.HTTPSConnection("127.0.0.1", 443, timeout=5, context=context)
        c.request("GET", "/roundrobin", headers={"Host": "%s", "Connection": "close"})
        r = c.getresponse(); r.read(); c.close()
        if r.status == 200:
            ok += 1
        else:
            failed += 1; kinds["status %%d" %% r.status] = kinds.get("status %%d" %% r.status, 0) + 1
    except Exception as exc:
        failed += 1; kinds[type(exc).__name__] = kinds.get(type(exc).__name__, 0) + 1
    try:
        open("/tmp/edge-load.stop").close(); break
    except OSError:
        pass
json.dump({"ok": ok, "failed": failed, "kinds": kinds}, open("/tmp/edge-load.json", "w"))
''' % (ROOT, NAME)


def test_a_forced_renewal_under_load_serves_a_new_certificate_without_a_failed_request(host):
    before = served(host)
    host.check_output("rm -f /tmp/edge-load.stop /tmp/edge-load.json")
    host.check_output("printf %%s %s > /tmp/edge-load.py" % _quote(_LOAD))
    host.check_output("systemd-run --unit=edge-load-%s python3 /tmp/edge-load.py" % os.getpid())
    try:
        # Above pebble's 5-year lifetime: the certificate is due now.
        run = site(acme_tls(renew_days=36500), nginx_lb_verify=False)
        assert run.returncode == 0, run.stdout[-4000:]
    finally:
        host.check_output("touch /tmp/edge-load.stop")
    host.check_output("for i in $(seq 50); do test -s /tmp/edge-load.json && break; sleep 0.2; done")
    load = json.loads(host.check_output("cat /tmp/edge-load.json"))
    print("requests during the renewal: %d ok, %d failed %s" % (load["ok"], load["failed"], load["kinds"]))
    assert load["failed"] == 0 and load["ok"] > 0
    after = served(host)
    assert after[0] != before[0] and "Pebble" in after[1]


def test_an_acme_directory_that_fails_is_named_and_https_keeps_serving(host):
    # pebble answers 404 for a path it does not serve. A refused connection
    # ends in the same failed task, but only after community.crypto's own
    # retries (20, 10 s apart: about 200 s).
    before = served(host)
    run = site(acme_tls(acme_directory="https://%s:14000/no-such-directory" % PEBBLE, renew_days=36500),
               nginx_lb_verify=False)
    assert run.returncode != 0
    assert "Order the certificate (when missing or due for renewal)" in run.stdout
    assert "no-such-directory" in run.stdout
    assert served(host) == before
    assert handshake(host, "-CAfile", ROOT, "-verify_return_error").rc == 0
