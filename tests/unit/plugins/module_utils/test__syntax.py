"""nginx's syntax for values the collection writes: allow-lists and quoting."""

import re

import pytest

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._nginx_conf import parse
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._syntax import (
    check_location_path,
    check_server_name,
    parse_address,
    parse_listen,
    quote,
    size_bytes,
    unknown_variables,
)


@pytest.mark.parametrize("address, expected", [
    ("127.0.0.1:7001", ("127.0.0.1", 7001)),
    ("127.0.0.1:07001", ("127.0.0.1", 7001)),          # the same backend as 127.0.0.1:7001
    ("app-1.Example.org:80", ("app-1.example.org", 80)),
    ("[::1]:7001", ("[::1]", 7001)),
    ("[0:0::1]:7001", ("[::1]", 7001)),
])
def test_addresses_are_normalised(address, expected):
    assert parse_address(address) == expected


@pytest.mark.parametrize("address", [
    "127.0.0.1", "127.0.0.1:70000", "127.0.0.1:0", "bad host:80", "::1:80", "[::g]:80", "127.0.0.999:80",
    "127.0.0.1:²", "127.0.0.1:７００１", "h\n:80", "h:80\n", "a;b:80", "h}:80", "-:80", "x" * 300 + ":80",
])
def test_bad_addresses_are_refused(address):
    with pytest.raises(ValueError):
        parse_address(address)


@pytest.mark.parametrize("listen, expected", [
    ("80", (None, 80)), ("127.0.0.1:8080", ("127.0.0.1", 8080)), ("[::]:80", ("[::]", 80)),
])
def test_listen_forms(listen, expected):
    assert parse_listen(listen) == expected


@pytest.mark.parametrize("listen", ["²", "８０", "80\n", "0", "70000", "http", "80 default_server"])
def test_bad_listen(listen):
    with pytest.raises(ValueError):
        parse_listen(listen)


@pytest.mark.parametrize("token", [
    "$host", "a b", "x;y{z}", 'q"uo\'te', "back\\slash\\", "", "#not-a-comment", "${scheme}://$host", "()",
])
def test_quote_reads_back_as_the_same_single_token(token):
    tree = parse("d %s;" % quote(token))
    assert len(tree) == 1 and tree[0].args == [token]


@pytest.mark.parametrize("token", ["a\nb", "nul\x00", "caf\u00e9", "tab\there"])
def test_quote_refuses_what_no_quoting_makes_safe(token):
    with pytest.raises(ValueError):
        quote(token)


@pytest.mark.parametrize("text, expected", [("64k", 65536), ("1m", 1048576), ("4096", 4096)])
def test_sizes(text, expected):
    assert size_bytes(text) == expected


@pytest.mark.parametrize("text", ["0x10", "64kb", "-1", "٣k", "64k\n"])
def test_not_a_size(text):
    with pytest.raises(ValueError):
        size_bytes(text)


@pytest.mark.parametrize("text, unknown", [
    ("$host", []), ("${scheme}://$host$request_uri", []), ("$http_x_forwarded_for $cookie_id $arg_q", []),
    ("$nonexistent", ["nonexistent"]), ("$host$bogus_var", ["bogus_var"]),
])
def test_unknown_variables(text, unknown):
    assert unknown_variables(text) == unknown


# The per-value checks a server block's fields use (one listen, one path, one server name).

@pytest.mark.parametrize("listen, words", [
    ("localhost:80", "not a host name"), ("[::ffff:127.0.0.1]:80", "IPv4-mapped"), ("[fe80::1]:80", "link-local"),
    ("[fe80::1%eth0]:80", "zone id"), ("[::1%lo]:80", "zone id"),
])
def test_listen_is_a_port_or_an_ip_address_nginx_can_bind(listen, words):
    with pytest.raises(ValueError, match=re.escape(words)):
        parse_listen(listen)


@pytest.mark.parametrize("check, value, ok", [
    (check_location_path, path, ok) for path, ok in [
        ("/", True), ("/a/", True), ("/a.b/..c", True), ("/a//b", False), ("/a/./b", False), ("/a/..", False),
        ("/.", False), ("//", False), ("a", False), ("/a b", False)]
] + [
    (check_server_name, name, ok) for name, ok in [
        ("example.com", True), ("[::1]", True), ("~^(?<sub>.+)$", True), (".", False), ("1..2", False),
        ("~(?<host>x)", False), ("~", False), ("~x{65536}", False)]
], ids=lambda value: getattr(value, "__name__", repr(value)))
def test_one_location_path_and_one_server_name(check, value, ok):
    if ok:
        check(value)
    else:
        with pytest.raises(ValueError):
            check(value)
