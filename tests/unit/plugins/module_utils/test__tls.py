"""load_balancer_tls -> the model: every wrong field named, the template's
words, https in verify_url, and the controller-side key/certificate check."""

import datetime

import pytest

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model import ModelError
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._render import model_to_dict
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model_vars import model_from_vars
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._tls import key_matches_cert

from helpers.paths import default_site_vars, tutorial_vars


def build(tls, **site):
    site_vars = default_site_vars()
    site_vars.update(site, load_balancer_tls=tls)
    return model_from_vars(*tutorial_vars(), site_vars=site_vars)


def errors_of(tls, **site):
    with pytest.raises(ModelError) as caught:
        build(tls, **site)
    return caught.value.errors


def test_the_default_is_plain_http():
    model = build({"mode": "none"})
    words = model_to_dict(model)["site"]
    assert words["tls"] is None and words["verify_url"] == "http://127.0.0.1:80"


def test_selfsigned_gives_the_templates_words_and_an_https_verify_url():
    words = model_to_dict(build({"mode": "selfsigned", "domains": ["lb.example.test"]}))["site"]
    assert words["verify_url"] == "https://127.0.0.1:443"
    assert words["tls"] == {"mode": "selfsigned", "port": 443, "listen": "443", "redirect": True, "http2": True,
                            # Version unknown: the listen parameter every nginx reads.
                            "http2_listen": " http2", "http2_directive": False, "hsts": None, "domains": ["lb.example.test"],
                            "redirect_target": "https://$host$request_uri", "acme": False,
                            "acme_directory": "https://acme-v02.api.letsencrypt.org/directory", "acme_email": "",
                            "acme_ca_file": "", "renew_days": 30,
                            # One site: one listen, the role's key and certificate paths.
                            "listens": ["443"], "cert_path": None, "key_path": None, "cert": None, "key": None}


def test_acme_gives_the_challenge_location_and_its_settings_reach_the_model():
    tls = {"mode": "acme", "domains": ["lb.example.test"], "acme_directory": "https://pebble:14000/dir",
           "acme_email": "ops@example.test", "acme_ca_file": "/tmp/pebble-ca.pem", "renew_days": 36500}
    model = build(tls)
    assert (model.site.tls.acme_directory, model.site.tls.renew_days) == ("https://pebble:14000/dir", 36500)
    words = model_to_dict(model)["site"]["tls"]
    assert words["acme"] is True and words["domains"] == ["lb.example.test"]
    assert (words["acme_directory"], words["acme_email"], words["acme_ca_file"], words["renew_days"]) == \
        ("https://pebble:14000/dir", "ops@example.test", "/tmp/pebble-ca.pem", 36500)
    assert model_to_dict(build({"mode": "selfsigned"}))["site"]["tls"]["acme"] is False


def test_another_port_address_and_hsts():
    words = model_to_dict(build({"mode": "selfsigned", "port": 8443, "hsts": True, "redirect": False, "http2": False},
                                load_balancer_listen="127.0.0.1:8080",
                                load_balancer_server_name="lb.example.test _"))["site"]
    tls = words["tls"]
    assert (tls["listen"], tls["redirect"], tls["http2"]) == ("127.0.0.1:8443", False, False)
    assert tls["hsts"] == "max-age=31536000"
    assert tls["redirect_target"] == "https://$host:8443$request_uri"
    # No domains: the server names that are DNS names.
    assert tls["domains"] == ["lb.example.test"]
    assert words["verify_url"] == "https://127.0.0.1:8443"


@pytest.mark.parametrize("tls, field, words", [
    ({"mode": "letsencrypt"}, "load_balancer_tls.mode", "must be one of none, selfsigned, provided, acme"),
    ({"mode": ["selfsigned"]}, "load_balancer_tls.mode", "must be one of"),
    ("selfsigned", "load_balancer_tls", "must be a dict"),
    ({"mode": "provided"}, "load_balancer_tls.cert", "required with mode provided"),
    ({"mode": "provided", "cert": "lb.crt"}, "load_balancer_tls.key", "required with mode provided"),
    ({"mode": "selfsigned", "cert": "lb.crt"}, "load_balancer_tls.cert", "only used with mode provided"),
    ({"mode": "selfsigned", "port": 0}, "load_balancer_tls.port", "1-65535"),
    ({"mode": "selfsigned", "port": "443; ssl off"}, "load_balancer_tls.port", "port 1-65535"),
    ({"mode": "selfsigned", "port": 80}, "load_balancer_tls.port", "must differ from load_balancer_listen"),
    ({"mode": "selfsigned", "redirect": "maybe"}, "load_balancer_tls.redirect", "boolean"),
    ({"mode": "selfsigned", "http2": 2}, "load_balancer_tls.http2", "boolean"),
    ({"mode": "selfsigned", "domains": "lb.example.test"}, "load_balancer_tls.domains", "list of DNS names"),
    ({"mode": "selfsigned", "domains": ["lb.example.test,IP:10.0.0.1"]}, "load_balancer_tls.domains[0]", "not a DNS name"),
    ({"mode": "selfsigned", "domains": ["a b"]}, "load_balancer_tls.domains[0]", "not a DNS name"),
    ({"mode": "selfsigned", "domains": ["lb.test\n"]}, "load_balancer_tls.domains[0]", "not a DNS name"),
    ({"mode": "selfsigned", "acme_mail": "x@y"}, "load_balancer_tls.acme_mail", "unknown key"),
    ({"mode": "acme"}, "load_balancer_tls.domains", "at least one DNS name with mode acme"),
    ({"mode": "acme", "domains": ["lb.example.test"], "acme_directory": "http://ca.test/dir"},
     "load_balancer_tls.acme_directory", "must be an https URL"),
    ({"mode": "acme", "domains": ["lb.example.test"], "acme_directory": "https://ca.test/dir?x=1"},
     "load_balancer_tls.acme_directory", "must be an https URL"),
    ({"mode": "acme", "domains": ["lb.example.test"], "acme_directory": "https://user:pw@ca.test/dir"},
     "load_balancer_tls.acme_directory", "must be an https URL"),
    ({"mode": "acme", "domains": ["lb.example.test"], "acme_email": "ops"}, "load_balancer_tls.acme_email",
     "e-mail address"),
    ({"mode": "acme", "domains": ["lb.example.test"], "acme_email": "ops@example.test\n"},
     "load_balancer_tls.acme_email", "e-mail address"),
    ({"mode": "acme", "domains": ["lb.example.test"], "acme_ca_file": "ca file.pem"},
     "load_balancer_tls.acme_ca_file", "letters, digits"),
    ({"mode": "acme", "domains": ["lb.example.test"], "renew_days": 0}, "load_balancer_tls.renew_days", "1-36500"),
    ({"mode": "acme", "domains": ["lb.example.test"], "renew_days": "soon"}, "load_balancer_tls.renew_days",
     "integer"),
])
def test_a_wrong_tls_field_is_named(tls, field, words):
    errors = errors_of(tls)
    assert any(error.startswith(field + ": ") and words in error for error in errors), errors


def _pair(common_name="lb.example.test"):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem


def test_a_key_matches_its_certificate_and_not_another():
    cert, key = _pair()
    other_cert, other_key = _pair("other.test")
    assert key_matches_cert(cert, key) is None
    # A chain after the leaf is fine: the first certificate is the one served.
    assert key_matches_cert(cert + other_cert, key) is None
    assert key_matches_cert(cert, other_key) == "does not belong to the certificate (CN=lb.example.test)"
    assert key_matches_cert("not a cert", key).startswith("is not a PEM certificate")
    assert key_matches_cert(cert, "not a key").startswith("is not an unencrypted PEM private key")
