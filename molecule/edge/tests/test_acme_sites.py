"""ACME per site (load_balancer_sites): two sites on the edge host, each
with mode acme, each certified by pebble for its own names (HTTP-01 answered
by nginx for each name, the LB reached under both names on the scenario's
network), each certificate chosen by SNI; the scenario's own single-site
setup restored afterwards. Requests are sent inside the LB container to
127.0.0.1; every loop is bounded."""

import pytest

from edgeops_paths import PEBBLE_CA
from edgecheck import NAME
from lbcheck import run_playbook

testinfra_hosts = ["lb"]

PEBBLE = "edgeops-edge-pebble"
SHOP = "shop.example.test"
# The role's default, so that the single-site TLS of the scenario does not mix with the sites.
NO_TLS = {"mode": "none", "port": 443, "redirect": True, "http2": True, "hsts": False, "domains": []}


def acme_site(name, server_name):
    return {"name": name, "server_names": [server_name],
            "tls": {"mode": "acme", "acme_directory": "https://%s:14000/dir" % PEBBLE,
                    "acme_email": "ops@example.test", "acme_ca_file": PEBBLE_CA},
            "locations": [{"path": "/roundrobin", "upstream": "roundrobin"}]}


def served(host, name):
    """(issuer, subject alternative names) of the certificate nginx offers for SNI `name`."""
    return host.check_output(
        "timeout 10 openssl s_client -connect 127.0.0.1:443 -servername %s </dev/null 2>/dev/null"
        " | openssl x509 -noout -issuer -ext subjectAltName" % name)


@pytest.fixture(scope="module")
def acme_sites(host):
    run = run_playbook("playbooks/site.yml", {
        "load_balancer_sites": [acme_site("lb", NAME), acme_site("shop", SHOP)],
        "load_balancer_tls": NO_TLS, "nginx_lb_app_group": "no_such_group"})
    try:
        yield run
    finally:
        restored = run_playbook("playbooks/site.yml", {"nginx_lb_app_group": "no_such_group"})
        assert restored.returncode == 0, restored.stdout[-4000:]
        assert "Pebble" not in served(host, NAME)


def test_each_site_is_certified_by_pebble_for_its_own_name(host, acme_sites):
    assert acme_sites.returncode == 0, acme_sites.stdout[-4000:]
    for name, other in ((NAME, SHOP), (SHOP, NAME)):
        out = served(host, name)
        assert "Pebble" in out and "DNS:%s" % name in out and other not in out, out
    # Each site's own key, chain and CA files; the issued pair is what nginx serves.
    for stem in ("acme_site_lb", "acme_site_shop"):
        host.check_output("test -s /etc/nginx/tls/%s_fullchain.crt && test -s /etc/nginx/tls/%s_domain.key" % (stem, stem))
    assert host.check_output("stat -c %a /etc/nginx/tls/site_shop.key") == "600"
