# -*- coding: utf-8 -*-
# Copyright: edgeops engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""nginx's syntax for the values the collection writes into a config.

Every string that reaches a config file goes through one of these: an
allow-list pattern anchored with \\A...\\Z (``$`` would match before a
trailing newline), or ``quote``, whose output nginx reads back as the same
single token. Numbers are parsed from ASCII digits only (``str.isdigit``
takes '²' and fullwidth digits).
"""

from __future__ import annotations

import ipaddress
import re

# nginx reads at most 4 KiB of one token; no value of ours needs near that.
MAX_TOKEN = 1024

NAME_RE = re.compile(r"\A[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z")
# Location paths go into `location` and into a `rewrite` regex: only
# characters that need neither quoting nor regex escaping (except '.').
PATH_RE = re.compile(r"\A/[A-Za-z0-9._~/-]{0,1023}\Z")
# A host name (RFC 1123 labels, '_' allowed as nginx does) or an IPv4 address.
HOST_NAME_RE = re.compile(r"\A(?=.{1,253}\Z)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?\Z")
PORT_RE = re.compile(r"\A[0-9]{1,5}\Z")
INT_RE = re.compile(r"\A[+]?[0-9]{1,12}\Z")
# nginx sizes: 64k, 1m, 4096.
SIZE_RE = re.compile(r"\A(?P<number>[0-9]{1,10})(?P<unit>[kKmMgG]?)\Z")
# nginx times: 10s, 500ms, 1h (one number and one unit, as nginx's docs write them).
TIME_RE = re.compile(r"\A(?P<number>[0-9]{1,9})(?P<unit>ms|s|m|h|d|w|M|y)?\Z")
# An absolute file path without characters that would need quoting.
FILE_PATH_RE = re.compile(r"\A/[A-Za-z0-9._/-]{0,1023}\Z")
# An include pattern of absolute paths: FILE_PATH_RE's characters and '*'.
GLOB_PATH_RE = re.compile(r"\A/[A-Za-z0-9._/*-]{0,1023}\Z")
HEADER_NAME_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_-]{0,63}\Z")
# A word nginx reads unquoted as itself: no space, quote, ';', '{', '}', '#', '\\'.
BARE_RE = re.compile(r"\A[A-Za-z0-9_$./:=@,+*%!?&|^~<>()\[\]-]+\Z")
# A variable reference: $name or ${name}.
VARIABLE_RE = re.compile(r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)\}|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))")
# hash keys: variables and word characters only.
HASH_KEY_RE = re.compile(r"\A(?:\$\{[A-Za-z_][A-Za-z0-9_]*\}|\$[A-Za-z_][A-Za-z0-9_]*|[A-Za-z0-9_.:/-])+\Z")
# server_name: exact names, wildcards at either end, '_', '' ; regex names start with '~'.
SERVER_NAME_RE = re.compile(
    r"\A(?:_|\*\.[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*|\.?[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*(?:\.\*)?|"
    r"[0-9.]+|\[[0-9A-Fa-f:.]+\])\Z")

_TIME_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "M": 2592000, "y": 31536000}
_SIZE_FACTOR = {"": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}

# The variables of the http modules Debian builds into nginx (core, proxy,
# upstream, realip, ssl, map-free); plus the prefixes that name a header,
# argument or cookie. A variable outside this list makes `nginx -t` fail
# ("unknown variable"), so we refuse it with the field named instead.
NGINX_VARIABLES = frozenset("""
arg args binary_remote_addr body_bytes_sent bytes_sent connection connection_requests connection_time
content_length content_type document_root document_uri host hostname https is_args limit_rate msec
nginx_version pid pipe proxy_protocol_addr proxy_protocol_port proxy_protocol_server_addr
proxy_protocol_server_port query_string realpath_root remote_addr remote_port remote_user request
request_body request_body_file request_completion request_filename request_id request_length
request_method request_time request_uri scheme server_addr server_name server_port server_protocol
status time_iso8601 time_local uri proxy_host proxy_port proxy_add_x_forwarded_for
upstream_addr upstream_bytes_received upstream_bytes_sent upstream_cache_status upstream_connect_time
upstream_header_time upstream_response_length upstream_response_time upstream_status
ssl_cipher ssl_ciphers ssl_client_escaped_cert ssl_client_fingerprint ssl_client_i_dn ssl_client_s_dn
ssl_client_serial ssl_client_verify ssl_curves ssl_protocol ssl_server_name ssl_session_id
ssl_session_reused realip_remote_addr realip_remote_port
""".split())
# The variables of nginx's stream module (core, upstream, proxy protocol,
# realip): a stream's hash key may use only these.
STREAM_VARIABLES = frozenset("""
binary_remote_addr bytes_received bytes_sent connection hostname msec nginx_version pid protocol
proxy_protocol_addr proxy_protocol_port proxy_protocol_server_addr proxy_protocol_server_port
remote_addr remote_port server_addr server_port session_time status time_iso8601 time_local
upstream_addr upstream_bytes_received upstream_bytes_sent upstream_connect_time upstream_first_byte_time
upstream_session_time realip_remote_addr realip_remote_port
""".split())
NGINX_VARIABLE_PREFIXES = ("http_", "sent_http_", "sent_trailer_", "cookie_", "arg_", "upstream_http_",
                           "upstream_trailer_", "upstream_cookie_")


def has_control(text):
    """Control characters (newline, NUL, DEL, ...) never belong in a config value."""
    return any(ord(char) < 32 or ord(char) == 127 for char in text)


def unknown_variables(text, stream=False):
    """Names of the `$variables` in `text` that nginx does not define (in
    the stream module's context with `stream`)."""
    known, prefixes = (STREAM_VARIABLES, ()) if stream else (NGINX_VARIABLES, NGINX_VARIABLE_PREFIXES)
    unknown = []
    for match in VARIABLE_RE.finditer(text):
        name = match.group("braced") or match.group("plain")
        if name not in known and not (prefixes and name.startswith(prefixes)):
            unknown.append(name)
    return unknown


def dangling_dollar(text):
    """A '$' that starts no variable: nginx refuses it ("invalid variable name")."""
    return len(re.findall(r"\$", text)) != len(VARIABLE_RE.findall(text))


def quote(token):
    """`token` as nginx reads it back as one token equal to `token`.

    Bare when it has no character nginx treats specially; else in double
    quotes with '\\' and '"' escaped (nginx unescapes exactly those two).
    Refuses what no quoting makes safe: control characters and non-ASCII.
    """
    if not isinstance(token, str) or has_control(token) or not token.isascii():
        raise ValueError("cannot be written into an nginx config: %r" % (token,))
    if token and BARE_RE.match(token) and "${" not in token:
        return token
    return '"%s"' % token.replace("\\", "\\\\").replace('"', '\\"')


def parse_port(text):
    """'7001' -> 7001; ValueError for anything but 1-65535 in ASCII digits."""
    text = str(text)
    if not PORT_RE.match(text) or not 1 <= int(text) <= 65535:
        raise ValueError("port must be 1-65535, got %r" % (text,))
    return int(text)


def parse_host(text):
    """A host as nginx should see it: a normalised IP ('[v6]' bracketed) or a name."""
    if text.startswith("[") and text.endswith("]"):
        try:
            return "[%s]" % ipaddress.IPv6Address(text[1:-1]).compressed
        except ValueError:
            raise ValueError("%r is not an IPv6 address" % text) from None
    if re.match(r"\A[0-9.]+\Z", text):
        try:
            return str(ipaddress.IPv4Address(text))
        except ValueError:
            raise ValueError("%r is not an IPv4 address" % text) from None
    if not HOST_NAME_RE.match(text):
        raise ValueError("%r is not a host name or IP address" % text)
    return text.lower()


def parse_address(text):
    """'host:port' or '[v6]:port' -> (host, port), normalised so that
    127.0.0.1:07001 and 127.0.0.1:7001 are the same backend."""
    if not isinstance(text, str) or ":" not in text:
        raise ValueError("must be 'host:port', got %r" % (text,))
    host, dummy, port = text.rpartition(":")
    if ":" in host and not (host.startswith("[") and host.endswith("]")):
        raise ValueError("must be 'host:port' or '[ipv6]:port', got %r" % (text,))
    try:
        return parse_host(host), parse_port(port)
    except ValueError as exc:
        raise ValueError("must be 'host:port' with a valid host and port 1-65535 (%s), got %r" % (exc, text)) from None


def format_address(host, port):
    return "%s:%d" % (host, port)


def parse_listen(text):
    """A `listen` value: a port, 'address:port' or '[v6]:port' -> (host or None, port)."""
    text = str(text)
    if PORT_RE.match(text):
        return None, parse_port(text)
    return parse_address(text)


def seconds(text, allow_ms=True):
    """An nginx time -> seconds; ValueError with nginx's rule when it is not one."""
    match = TIME_RE.match(str(text))
    if not match or (match.group("unit") == "ms" and not allow_ms):
        raise ValueError("must be an nginx time like %s, got %r" % ("500ms or 10s" if allow_ms else "10s", text))
    # Without a unit nginx reads seconds.
    return int(match.group("number")) * _TIME_SECONDS[match.group("unit") or "s"]


def size_bytes(text):
    match = SIZE_RE.match(str(text))
    if not match:
        raise ValueError("must be an nginx size like 64k or 1m, got %r" % (text,))
    return int(match.group("number")) * _SIZE_FACTOR[match.group("unit").lower()]

# A site's name (load_balancer_sites): part of file, log and zone names.
SITE_NAME_RE = re.compile(r"\A[a-z0-9_]{1,64}\Z")
# limit_req rates: requests per second or per minute.
RATE_RE = re.compile(r"\A(?P<number>[0-9]{1,6})r/(?P<unit>[sm])\Z")
# A redirect target: an absolute http(s) URL or a path; characters that need
# no quoting, and nginx variables ($request_uri keeps path and query).
REDIRECT_RE = re.compile(r"\A(?=.)(?:https?://[A-Za-z0-9.$_-]{1,253}(?::[0-9]{1,5})?)?"
                         r"(?:/[A-Za-z0-9._~/%$&=?:+,-]{0,1023})?\Z")


def parse_network(text):
    """'10.0.0.0/8', '192.0.2.7', '2001:db8::/32' -> its normalised form; ValueError else."""
    if not isinstance(text, str) or not re.match(r"\A[0-9A-Fa-f.:/]{1,64}\Z", text):
        raise ValueError("must be an IP address or network like 10.0.0.0/8, got %r" % (text,))
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError("must be an IP address or network like 10.0.0.0/8, got %r" % (text,)) from None
    return str(network) if network.num_addresses > 1 else str(network.network_address)
