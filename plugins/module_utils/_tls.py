# -*- coding: utf-8 -*-
# Copyright: edgeops engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""TLS termination of the load balancer's server block: the
``load_balancer_tls`` role variable -> the model's ``Tls``, its checks, and
the check that a provided key belongs to its certificate.

Shapes and types are read by ``tls_from_var`` (naming the key), values are
judged by ``check_tls`` (anchored allow-lists), both before anything on the
host changes. ``key_matches_cert`` runs on the controller (the lb_model
filter) with the ``cryptography`` package Ansible itself needs; it is
imported only there, so the modules that share this package on a target do
not need it.
"""

from __future__ import annotations

import re

from ansible_collections.edgeops.nginx_lb.plugins.module_utils import _syntax as syntax
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._convert import to_bool, to_int
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model import Tls

MODES = ("none", "selfsigned", "provided", "acme")
TLS_KEYS = ("mode", "port", "redirect", "http2", "hsts", "cert", "key", "domains", "acme_directory", "acme_email",
            "acme_ca_file", "renew_days")
RENEW_DAYS_RANGE = (1, 36500)
# The ACME directory: an https URL of a host name or address, a port, a path (no query, no credentials).
ACME_DIRECTORY_RE = re.compile(r"\Ahttps://[A-Za-z0-9.-]{1,253}(?::[0-9]{1,5})?(?:/[A-Za-z0-9._~/-]{0,512})?\Z")
EMAIL_RE = re.compile(r"\A[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+\Z")
# A file on the controller: no character that needs quoting anywhere.
CONTROLLER_PATH_RE = re.compile(r"\A[A-Za-z0-9._/-]{1,1024}\Z")
MAX_DOMAINS = 100
# A DNS name for a certificate (no wildcard in the self-signed one, no trailing dot).
DOMAIN_RE = re.compile(r"\A(?=.{1,253}\Z)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                       r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\Z")
# The location of HTTP-01 tokens (tls_acme_challenge.conf.j2 writes it with a trailing '/').
ACME_CHALLENGE_PATH = "/.well-known/acme-challenge"


def tls_from_var(value, var, errors):
    """`load_balancer_tls` (a dict) -> Tls; shapes and types only, errors named."""
    if value is None:
        return Tls(where=var)
    if not isinstance(value, dict):
        errors.append("%s: must be a dict with a mode, got %r" % (var, value))
        return Tls(where=var)
    for key in sorted(set(value) - set(TLS_KEYS), key=str):
        errors.append("%s.%s: unknown key (allowed: %s)" % (var, key, ", ".join(TLS_KEYS)))
    tls = Tls(where=var)
    mode = value.get("mode", "none")
    tls.mode = mode if isinstance(mode, str) else repr(mode)
    port = value.get("port", 443)
    if isinstance(port, bool) or not isinstance(port, (int, str)) or not syntax.PORT_RE.match(str(port)):
        errors.append("%s.port: must be a port 1-65535, got %r" % (var, port))
    else:
        tls.port = int(port)
    for key in ("redirect", "http2", "hsts"):
        if key in value:
            setattr(tls, key, to_bool(value[key], "%s.%s" % (var, key), errors))
    for key in ("cert", "key"):
        text = value.get(key)
        if text is not None and not isinstance(text, str):
            errors.append("%s.%s: must be a path (a string), got %r" % (var, key, text))
        elif text:
            setattr(tls, key, text)
    for key in ("acme_directory", "acme_email", "acme_ca_file"):
        if key in value and value[key] is not None:
            if not isinstance(value[key], str):
                errors.append("%s.%s: must be a string, got %r" % (var, key, value[key]))
            else:
                setattr(tls, key, value[key])
    renew = to_int(value.get("renew_days", 30), var + ".renew_days", errors)
    if renew is not None:
        tls.renew_days = renew
    domains = value.get("domains", [])
    if isinstance(domains, str) or not isinstance(domains, list):
        errors.append("%s.domains: must be a list of DNS names, got %r" % (var, domains))
    else:
        tls.domains = [str(name) if isinstance(name, str) else repr(name) for name in domains]
    return tls


def check_tls(tls, listen_port, add):
    """Judge `tls`; `add(field, message)` for each error. `listen_port` is
    the plain HTTP port (load_balancer_listen)."""
    var = tls.where or "load_balancer_tls"
    if tls.mode not in MODES:
        add("%s.mode" % var, "must be one of %s, got %r" % (", ".join(MODES), tls.mode))
        return
    if tls.mode == "none":
        return
    if not 1 <= tls.port <= 65535:
        add("%s.port" % var, "must be 1-65535, got %d" % tls.port)
    elif tls.port == listen_port:
        add("%s.port" % var, "must differ from load_balancer_listen's port %d (plain HTTP stays there)" % listen_port)
    if len(tls.domains) > MAX_DOMAINS:
        add("%s.domains" % var, "must hold at most %d names" % MAX_DOMAINS)
    for index, name in enumerate(tls.domains):
        if not DOMAIN_RE.match(name):
            add("%s.domains[%d]" % (var, index), "%r is not a DNS name (letters, digits, '-', dots)" % (name,))
    if tls.mode == "provided":
        for key in ("cert", "key"):
            if not getattr(tls, key):
                add("%s.%s" % (var, key), "is required with mode provided (a PEM file on the controller)")
    elif tls.cert or tls.key:
        add("%s.%s" % (var, "cert" if tls.cert else "key"), "is only used with mode provided, not %s" % tls.mode)
    if tls.mode == "acme":
        _check_acme(tls, var, add)


def _check_acme(tls, var, add):
    if not tls.domains:
        add("%s.domains" % var, "must name at least one DNS name with mode acme (the certificate's names)")
    if not ACME_DIRECTORY_RE.match(tls.acme_directory):
        add("%s.acme_directory" % var, "must be an https URL (host, port, path; no query), got %r"
            % (tls.acme_directory,))
    if tls.acme_email and not EMAIL_RE.match(tls.acme_email):
        add("%s.acme_email" % var, "must be an e-mail address, got %r" % (tls.acme_email,))
    if tls.acme_ca_file and not CONTROLLER_PATH_RE.match(tls.acme_ca_file):
        add("%s.acme_ca_file" % var, "must be a path of letters, digits and . _ - /, got %r" % (tls.acme_ca_file,))
    if not RENEW_DAYS_RANGE[0] <= tls.renew_days <= RENEW_DAYS_RANGE[1]:
        add("%s.renew_days" % var, "must be %d-%d, got %d" % (RENEW_DAYS_RANGE + (tls.renew_days,)))


def acme_location_in_server(tls):
    """True when the template writes the ACME challenge location into the
    balancing server block (mode acme without redirect: with redirect it
    sits in the plain HTTP server that redirects)."""
    return tls.mode == "acme" and not tls.redirect


def key_matches_cert(cert_pem, key_pem):
    """None when `key_pem` is the private key of the first certificate of
    `cert_pem` (a chain may follow it); else why not, in words."""
    from cryptography import x509  # pylint: disable=import-outside-toplevel
    from cryptography.hazmat.primitives import serialization  # pylint: disable=import-outside-toplevel

    cert_bytes = cert_pem.encode() if isinstance(cert_pem, str) else cert_pem
    key_bytes = key_pem.encode() if isinstance(key_pem, str) else key_pem
    try:
        cert = x509.load_pem_x509_certificates(cert_bytes)[0]
    except (ValueError, IndexError) as exc:
        return "is not a PEM certificate: %s" % (str(exc) or type(exc).__name__)
    try:
        key = serialization.load_pem_private_key(key_bytes, password=None)
    except (ValueError, TypeError) as exc:
        return "is not an unencrypted PEM private key: %s" % (str(exc) or type(exc).__name__)
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    encoding = serialization.Encoding.DER
    if key.public_key().public_bytes(encoding, public) != cert.public_key().public_bytes(encoding, public):
        return "does not belong to the certificate (%s)" % cert.subject.rfc4514_string()
    return None
