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
# A sticky cookie's name: an RFC 6265 token, narrowed to letters, digits, '_' and '-'.
COOKIE_NAME_RE = re.compile(r"\A[A-Za-z0-9_-]{1,64}\Z")
# A host name (RFC 1123 labels, '_' allowed as nginx does) or an IPv4 address.
HOST_NAME_RE = re.compile(r"\A(?=.{1,253}\Z)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?\Z")
PORT_RE = re.compile(r"\A[0-9]{1,5}\Z")
# A name nginx re-resolves (`server NAME resolve`): RFC 1123 labels (letters,
# digits, inner '-', 1-63 each), at most 253 characters, no trailing dot, and
# a last label that is not all digits (that would be an IPv4 address).
RESOLVE_NAME_RE = re.compile(r"\A(?=.{1,253}\Z)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
                             r"(?=[A-Za-z0-9-]*[A-Za-z])[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z")
# nginx sizes: 64k, 1m, 4096.
SIZE_RE = re.compile(r"\A(?P<number>[0-9]{1,10})(?P<unit>[kKmMgG]?)\Z")
# An absolute file path without characters that would need quoting.
FILE_PATH_RE = re.compile(r"\A/[A-Za-z0-9._/-]{0,1023}\Z")
# An include pattern of absolute paths: FILE_PATH_RE's characters and '*'.
GLOB_PATH_RE = re.compile(r"\A/[A-Za-z0-9._/*-]{0,1023}\Z")
# At most 46 characters: nginx 1.22's proxy_headers_hash (bucket size 64)
# cannot hold a longer name (`nginx -t`: "could not build proxy_headers_hash").
MAX_HEADER_NAME = 46
HEADER_NAME_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_-]{0,%d}\Z" % (MAX_HEADER_NAME - 1))
# A word nginx reads unquoted as itself: no space, quote, ';', '{', '}', '#', '\\'.
BARE_RE = re.compile(r"\A[A-Za-z0-9_$./:=@,+*%!?&|^~<>()\[\]-]+\Z")
# A variable reference: $name or ${name}.
VARIABLE_RE = re.compile(r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)\}|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))")
# hash keys: variables and word characters only.
HASH_KEY_RE = re.compile(r"\A(?:\$\{[A-Za-z_][A-Za-z0-9_]*\}|\$[A-Za-z_][A-Za-z0-9_]*|[A-Za-z0-9_.:/-])+\Z")
# server_name: exact names, wildcards at either end, '_'; an IP address is
# checked by `ipaddress` (check_server_name); regex names start with '~'.
SERVER_NAME_RE = re.compile(
    r"\A(?:_|\*\.[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*|\.?[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*(?:\.\*)?)\Z")
_IPV4_TEXT_RE = re.compile(r"\A[0-9.]+\Z")
_IPV6_BRACKETED_RE = re.compile(r"\A\[[0-9A-Fa-f:.]+\]\Z")

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
# Variables the other modules of Debian's nginx declare (found by naming a
# regex capture after each word of the binary and its modules: `nginx -t`
# says "the duplicate ... variable"), and the prefixes of module families
# whose variables depend on the build. A named capture becomes a variable,
# so its name must be none of these.
OTHER_MODULE_VARIABLES = frozenset("""
connections_active connections_reading connections_waiting connections_writing date_gmt date_local
fastcgi_path_info fastcgi_script_name gzip_ratio http2 http3 invalid_referer limit_conn_status limit_req_status
memcached_key secure_link secure_link_expires slice_range uid_got uid_reset uid_set
""".split())
MODULE_VARIABLE_PREFIXES = ("ssl_", "upstream_", "proxy_", "realip_", "tcpinfo_", "connections_", "geoip_",
                            "geoip2_", "limit_", "fastcgi_", "uwsgi_", "scgi_", "uid_", "date_", "secure_link",
                            "request_", "echo_", "quic", "jwt_")
# The shared memory zones the role itself declares (nginx.conf's
# ssl_session_cache, the default of load_balancer_ssl_session_cache): an
# upstream's zone takes the upstream's name and would clash ("already
# declared for a different use"); nginx compares zone names with case.
ROLE_ZONE_NAMES = ("SSL",)


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


def _ipv6(text):
    """'[v6]' -> IPv6Address; nginx reads no zone id ('%eth0') in an address."""
    if "%" in text:
        raise ValueError("%r has an IPv6 zone id ('%%...'), which nginx cannot read here" % text)
    try:
        return ipaddress.IPv6Address(text[1:-1])
    except ValueError:
        raise ValueError("%r is not an IPv6 address" % text) from None


def parse_host(text):
    """A host as nginx should see it: a normalised IP ('[v6]' bracketed) or a name."""
    if text.startswith("[") and text.endswith("]"):
        return "[%s]" % _ipv6(text).compressed
    if _IPV4_TEXT_RE.match(text):
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
    """A `listen` value: a port, 'IPv4:port' or '[v6]:port' -> (address or None, port).

    No host name: nginx resolves it at startup (localhost to 127.0.0.1 and
    ::1), so two spellings of one socket could not be compared. No
    IPv4-mapped IPv6 address: nginx's IPv6 sockets are ipv6only and cannot
    bind one; no link-local one (fe80::/10): it binds only with a zone id.
    """
    text = str(text)
    if PORT_RE.match(text):
        return None, parse_port(text)
    host, port = parse_address(text)
    if not host.startswith("[") and not _IPV4_TEXT_RE.match(host):
        raise ValueError("must be a port, IPv4:port or [IPv6]:port, not a host name (nginx resolves %r at startup, "
                         "so two spellings of one socket could not be told apart), got %r" % (host, text))
    address = ipaddress.IPv6Address(host[1:-1]) if host.startswith("[") else None
    if address is not None and address.ipv4_mapped is not None:
        raise ValueError("%s is an IPv4-mapped IPv6 address, which nginx's IPv6-only socket cannot bind: listen on "
                         "%s:%d instead, got %r" % (host, address.ipv4_mapped, port, text))
    if address is not None and address.is_link_local:
        raise ValueError("%s is a link-local IPv6 address, which binds only with a zone id, and nginx reads none, "
                         "got %r" % (host, text))
    return host, port


def check_location_path(path):
    """ValueError unless `path` is a normalised absolute path of PATH_RE:
    nginx matches a location against the request's normalised URI, so a
    path with '//', a '.' or '..' segment never matches a request."""
    if not PATH_RE.match(path):
        raise ValueError("must be a path: start with '/' and hold only letters, digits and . _ ~ - / (at most 1024), "
                         "got %r" % (path,))
    segments = path.split("/")[1:]
    # An empty last segment is the trailing '/' of a directory ('/' itself too).
    if "" in segments[:-1] or "." in segments or ".." in segments:
        raise ValueError("must be a path in normal form: no '//', no '.' or '..' segment (nginx matches the request's "
                         "normalised URI, which never holds them), got %r" % (path,))


def check_server_name(name):
    """ValueError unless `name` is one server_name nginx takes as meant:
    exact, '*.' or '.*' wildcard, '.' + domain, '_', an IP address or a
    ~regex (check_regex)."""
    if name.startswith("~"):
        check_regex(name[1:])
        return
    if len(name) > 253:
        raise ValueError("%r is not a server name (at most 253 characters)" % (name[:300],))
    if _IPV4_TEXT_RE.match(name) or _IPV6_BRACKETED_RE.match(name):
        try:
            parse_host(name)
        except ValueError:
            raise ValueError("%r is not an IP address" % (name,)) from None
        return
    if not SERVER_NAME_RE.match(name):
        raise ValueError("%r is not a server name (letters, digits, '-', '_', dots between labels; '*.' or '.*' "
                         "wildcards; '_'; an IP address; or a ~regex)" % (name,))


# The regular expressions of a ~server_name: the PCRE syntax that PCRE2 (as
# nginx compiles it) and Python's re read alike. Anything else (Python-only
# escapes and flags, POSIX classes, lookbehind, backreferences) is refused.
MAX_REGEX = 512
MAX_REPEAT = 65535   # PCRE2: "number too big in {} quantifier"
CAPTURE_NAME_RE = re.compile(r"\A[A-Za-z_][A-Za-z0-9_]{0,31}\Z")   # PCRE2: at most 32, no leading digit
_CLASS_ESCAPES = "dDwWsS"
_ESCAPES = _CLASS_ESCAPES + "bBA"
MAX_REGEX_DEPTH = 32
_LITERAL_RE = re.compile(r"\A[A-Za-z0-9!\"#%&',/:;<=>@_`~-]\Z")
_ESCAPED_PUNCTUATION_RE = re.compile(r"\A[!-/:-@\[-`{-~]\Z")
_QUANTIFIER_RE = re.compile(r"\A\{(?P<low>[0-9]{1,6})(?P<comma>,(?P<high>[0-9]{0,6}))?\}\Z")


def check_regex(regex):
    """ValueError unless `regex` is in the PCRE subset of this module that
    nginx's PCRE2 compiles as Python reads it; its named captures must be
    PCRE-valid, unique and not the name of an nginx variable (nginx makes
    each a variable)."""
    if not regex:
        raise ValueError("'~' needs a regular expression after it")
    if len(regex) > MAX_REGEX or not regex.isascii() or has_control(regex):
        raise ValueError("regex %r must be printable ASCII, at most %d characters" % (regex[:600], MAX_REGEX))
    names = _regex_captures(regex)
    for name in names:
        _check_capture_name(name, regex)
    try:
        re.compile(re.sub(r"\(\?<(?=[A-Za-z_])", "(?P<", regex))
    except re.error as exc:
        raise ValueError("regex %r does not compile: %s" % (regex, exc)) from None


def _check_capture_name(name, regex):
    if not CAPTURE_NAME_RE.match(name):
        raise ValueError("regex %r: capture name %r must be a letter or '_' then letters, digits, '_' (at most 32, "
                         "as PCRE2 reads it)" % (regex, name))
    lowered = name.lower()
    if lowered in NGINX_VARIABLES or lowered in STREAM_VARIABLES or lowered in OTHER_MODULE_VARIABLES or \
            lowered.startswith(NGINX_VARIABLE_PREFIXES + MODULE_VARIABLE_PREFIXES):
        raise ValueError("regex %r: capture name %r is (or may be) an nginx variable ($%s); nginx makes each named "
                         "capture a variable and refuses a duplicate" % (regex, name, lowered))


def _escape_ok(follower, escapes):
    return bool(follower) and (follower in escapes or bool(_ESCAPED_PUNCTUATION_RE.match(follower)))


def _group_opening(regex, index, refuse):
    """(index after a group's opening, its capture name or None)."""
    if not regex.startswith("(?", index):
        return index + 1, None
    kind = regex[index + 2:index + 3]
    if kind in (":", "=", "!"):
        return index + 3, None
    for opening in ("(?<", "(?P<"):
        if regex.startswith(opening, index) and regex[index + len(opening):index + len(opening) + 1] not in "=!":
            close = regex.find(">", index)
            if close < 0:
                refuse("unterminated capture name")
            return close + 1, regex[index + len(opening):close]
    refuse("group %r is not one PCRE2 and Python read alike" % regex[index:index + 4])
    return None


def _regex_captures(regex):
    """The capture names of `regex`, walking it by the allow-list; ValueError
    at the first construct outside it."""
    names, depth, index, repeatable = [], 0, 0, False

    def refuse(what):
        raise ValueError("regex %r: %s at offset %d (allowed: literals, . ^ $ |, [classes], \\d \\w \\s \\b "
                         "\\A and escaped punctuation, (groups), (?:...), (?<name>...), (?=...), (?!...), "
                         "* + ? {n,m} up to %d with ? or + after)" % (regex, what, index, MAX_REPEAT))

    while index < len(regex):
        char = regex[index]
        if char == "\\":
            follower = regex[index + 1:index + 2]
            if not _escape_ok(follower, _ESCAPES):
                refuse("escape %r is not one PCRE2 and Python read alike" % ("\\" + follower))
            repeatable = follower not in "bBA"
            index += 2
            continue
        if char == "(":
            index, name = _group_opening(regex, index, refuse)
            if name is not None:
                if name in names:
                    refuse("capture name %r is given twice" % name)
                names.append(name)
            depth += 1
            if depth > MAX_REGEX_DEPTH:
                refuse("groups nested deeper than %d" % MAX_REGEX_DEPTH)
            repeatable = False
            continue
        if char == ")":
            if depth == 0:
                refuse("unbalanced ')'")
            depth -= 1
            repeatable = True
        elif char == "[":
            index = _class_end(regex, index, refuse)
            repeatable = True
            continue
        elif char in "*+?{":
            quantifier = _QUANTIFIER_RE.match(regex[index:regex.find("}", index) + 1]) if char == "{" else None
            if char == "{" and not quantifier:
                refuse("'{' that is no {n}, {n,} or {n,m} (write a literal one as \\{)")
            if not repeatable:
                refuse("quantifier %r after nothing repeatable" % char)
            if quantifier:
                low = int(quantifier.group("low"))
                high = int(quantifier.group("high")) if quantifier.group("high") else low
                if low > MAX_REPEAT or high > MAX_REPEAT or (quantifier.group("high") and high < low):
                    refuse("repeat count %r must be at most %d, the lower first" % (quantifier.group(0), MAX_REPEAT))
                index += quantifier.end()
            else:
                index += 1
            if regex[index:index + 1] in ("?", "+"):
                index += 1
            repeatable = False
            continue
        elif char in "^$|":
            repeatable = False
        elif char == "." or _LITERAL_RE.match(char):
            repeatable = True
        else:
            refuse("character %r (escape it with '\\')" % char)
        index += 1
    if depth:
        refuse("unbalanced '('")
    return names


def _class_end(regex, start, refuse):
    """Index after the [class] at `start`: literals, ranges, \\d \\w \\s
    and escaped punctuation (no nested '[': PCRE reads [:alpha:] there)."""
    index = start + 1
    if regex[index:index + 1] == "^":
        index += 1
    first = index
    while index < len(regex):
        char = regex[index]
        if char == "]" and index > first:
            return index + 1
        if char == "\\":
            follower = regex[index + 1:index + 2]
            if not _escape_ok(follower, _CLASS_ESCAPES):
                refuse("escape %r in a class is not one PCRE2 and Python read alike" % ("\\" + follower))
            index += 2
            continue
        if char in "[]":
            refuse("%r in a class (escape it with '\\')" % char)
        if not (char in ".$^|()*+?{}" or _LITERAL_RE.match(char)):
            refuse("character %r in a class" % char)
        index += 1
    refuse("unterminated '['")
    return index


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


def parse_resolver_address(text):
    """A DNS server of nginx's `resolver`: 'IPv4', 'IPv4:port', '[v6]' or
    '[v6]:port' -> its normalised form; ValueError else (no host name: it
    would itself need resolving, at startup only)."""
    text = str(text)
    host, port = text, None
    if text.startswith("["):
        if "]:" in text:
            host, dummy, port = text.rpartition(":")
    elif ":" in text:
        host, dummy, port = text.rpartition(":")
    try:
        if host.startswith("[") and host.endswith("]"):
            host = "[%s]" % _ipv6(host).compressed
        elif _IPV4_TEXT_RE.match(host):
            host = str(ipaddress.IPv4Address(host))
        else:
            raise ValueError("not an IP address")
        return host if port is None else "%s:%d" % (host, parse_port(port))
    except ValueError:
        raise ValueError("must be an IP address with an optional port (192.0.2.53, 192.0.2.53:5353, [2001:db8::53]), "
                         "got %r" % (text,)) from None
