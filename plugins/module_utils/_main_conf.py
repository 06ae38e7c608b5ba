# -*- coding: utf-8 -*-
# Copyright: edgeops engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Role variables of nginx's main configuration (nginx.conf) -> checked words.

The load_balancer role owns /etc/nginx/nginx.conf: worker limits, the
shutdown timeout and the TLS defaults of the http context. Every value that
reaches the file is matched here by an anchored allow-list (or an integer
range) and named by its role variable when it is wrong; the template only
writes the words returned.
"""

from __future__ import annotations

import re

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._convert import to_bool, to_int, to_seconds
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model import ModelError

# Role variable -> key of the result.
MAIN_VARS = {
    "load_balancer_worker_processes": "worker_processes",
    "load_balancer_worker_connections": "worker_connections",
    "load_balancer_worker_rlimit_nofile": "worker_rlimit_nofile",
    "load_balancer_limit_nofile": "limit_nofile",
    "load_balancer_worker_shutdown_timeout": "worker_shutdown_timeout",
    "load_balancer_server_tokens": "server_tokens",
    "load_balancer_ssl_protocols": "ssl_protocols",
    "load_balancer_ssl_ciphers": "ssl_ciphers",
    "load_balancer_ssl_session_cache": "ssl_session_cache",
    "load_balancer_ssl_session_timeout": "ssl_session_timeout",
}

WORKER_PROCESSES_RANGE = (1, 1024)
WORKER_CONNECTIONS_RANGE = (512, 1048576)
# The kernel's default fs.nr_open is 1048576: no process gets more.
NOFILE_RANGE = (1024, 1048576)
SHUTDOWN_TIMEOUT_RANGE_S = (1, 86400)
SESSION_TIMEOUT_RANGE_S = (60, 7 * 86400)
# Only the protocols without known weaknesses (gixy's weak_ssl_tls flags the others).
SSL_PROTOCOLS = ("TLSv1.2", "TLSv1.3")
# OpenSSL cipher names joined by ':' (no '!', '@' or spaces: a list of names, not a rule string).
SSL_CIPHERS_RE = re.compile(r"\A[A-Z0-9][A-Z0-9_-]{0,63}(?::[A-Z0-9][A-Z0-9_-]{0,63}){0,63}\Z")
# off | none | shared:NAME:SIZE (builtin is per worker and defeats resumption across workers).
SSL_SESSION_CACHE_RE = re.compile(r"\A(?:off|none|shared:[A-Za-z][A-Za-z0-9_]{0,31}:[0-9]{1,5}[km])\Z")
# Ciphers that must never be offered (RFC 7465 RC4, export, NULL, anonymous, MD5, 3DES).
WEAK_CIPHER_RE = re.compile(r"(?:\A|[-_])(?:RC4|NULL|EXP|EXPORT|ADH|AECDH|MD5|DES|3DES|DES-CBC3|anon)(?:[-_]|\Z)")


class MainConfError(ModelError):
    """Invalid nginx.conf settings, every problem as 'field: message'."""


def _seconds(value, var, bounds, errors):
    """The nginx time `value` as written, when within `bounds` seconds."""
    return None if to_seconds(value, var, errors, bounds, allow_ms=False) is None else str(value)


def main_conf(values):
    """{role variable: value} -> {key: nginx words}; MainConfError naming every wrong variable."""
    errors = []
    unknown = sorted(set(values) - set(MAIN_VARS))
    for var in unknown:
        errors.append("%s: not a main configuration variable" % var)
    missing = sorted(set(MAIN_VARS) - set(values))
    for var in missing:
        errors.append("%s: missing" % var)
    if errors:
        raise MainConfError(errors)
    words = {}
    processes = values["load_balancer_worker_processes"]
    if processes == "auto":
        words["worker_processes"] = "auto"
    elif to_int(processes, "load_balancer_worker_processes", [], WORKER_PROCESSES_RANGE) is None:
        errors.append("load_balancer_worker_processes: must be 'auto' or an integer %d-%d, got %r"
                      % (WORKER_PROCESSES_RANGE + (processes,)))
    else:
        words["worker_processes"] = str(int(processes))
    connections = to_int(values["load_balancer_worker_connections"], "load_balancer_worker_connections", errors,
                         WORKER_CONNECTIONS_RANGE)
    rlimit = to_int(values["load_balancer_worker_rlimit_nofile"], "load_balancer_worker_rlimit_nofile", errors,
                    NOFILE_RANGE)
    limit = to_int(values["load_balancer_limit_nofile"], "load_balancer_limit_nofile", errors, NOFILE_RANGE)
    if connections is not None and rlimit is not None and rlimit < 2 * connections:
        # A proxied request holds two descriptors: the client's and the backend's.
        errors.append("load_balancer_worker_rlimit_nofile: must be at least twice load_balancer_worker_connections "
                      "(%d), got %d" % (2 * connections, rlimit))
    if rlimit is not None and limit is not None and limit < rlimit:
        errors.append("load_balancer_limit_nofile: must be at least load_balancer_worker_rlimit_nofile (%d), got %d"
                      % (rlimit, limit))
    words["worker_connections"] = str(connections)
    words["worker_rlimit_nofile"] = str(rlimit)
    words["limit_nofile"] = str(limit)
    words["worker_shutdown_timeout"] = _seconds(values["load_balancer_worker_shutdown_timeout"],
                                                "load_balancer_worker_shutdown_timeout", SHUTDOWN_TIMEOUT_RANGE_S,
                                                errors)
    words["server_tokens"] = "on" if to_bool(values["load_balancer_server_tokens"], "load_balancer_server_tokens",
                                             errors) else "off"
    protocols = values["load_balancer_ssl_protocols"]
    if not isinstance(protocols, list) or not protocols or \
            any(p not in SSL_PROTOCOLS for p in protocols) or len(set(protocols)) != len(protocols):
        errors.append("load_balancer_ssl_protocols: must be a non-empty list of distinct %s (TLSv1 and TLSv1.1 are "
                      "broken), got %r" % (" and ".join(SSL_PROTOCOLS), protocols))
    else:
        words["ssl_protocols"] = " ".join(p for p in SSL_PROTOCOLS if p in protocols)
    ciphers = values["load_balancer_ssl_ciphers"]
    if not isinstance(ciphers, str) or not SSL_CIPHERS_RE.match(ciphers):
        errors.append("load_balancer_ssl_ciphers: must be OpenSSL cipher names joined by ':' (capitals, digits, "
                      "'-', '_'), got %r" % (ciphers,))
    else:
        weak = [name for name in ciphers.split(":") if WEAK_CIPHER_RE.search(name)]
        if weak:
            errors.append("load_balancer_ssl_ciphers: weak ciphers are refused: %s" % ", ".join(weak))
        words["ssl_ciphers"] = ciphers
    cache = values["load_balancer_ssl_session_cache"]
    if not isinstance(cache, str) or not SSL_SESSION_CACHE_RE.match(cache):
        errors.append("load_balancer_ssl_session_cache: must be off, none or shared:NAME:SIZE (like shared:SSL:10m), "
                      "got %r" % (cache,))
    else:
        words["ssl_session_cache"] = cache
    words["ssl_session_timeout"] = _seconds(values["load_balancer_ssl_session_timeout"],
                                            "load_balancer_ssl_session_timeout", SESSION_TIMEOUT_RANGE_S, errors)
    if errors:
        raise MainConfError(errors)
    return words
