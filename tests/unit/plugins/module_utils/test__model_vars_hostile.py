"""Hostile role input that nginx reads differently from a first glance:
every case is refused by model_from_vars with its field named, before
`nginx -t` would see it; the neighbours that nginx takes as meant pass."""

import re

import pytest

from ansible_collections.edgeops.nginx_lb.plugins.module_utils import _main_conf, _syntax, _tls
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model import ModelError
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model_vars import model_from_vars

from helpers.paths import default_site_vars, tutorial_vars

ACME_TLS = {"mode": "acme", "domains": ["lb.example.test"], "redirect": False}


def build(upstreams=None, locations=None, streams=None, **site):
    tutorial_upstreams, tutorial_locations = tutorial_vars()
    return model_from_vars(tutorial_upstreams if upstreams is None else upstreams,
                           tutorial_locations if locations is None else locations,
                           site_vars=dict(default_site_vars(), **site), streams=streams)


def refused(field, words, **inputs):
    """The one error of `inputs`, which must name `field` and say `words`."""
    with pytest.raises(ModelError) as caught:
        build(**inputs)
    errors = caught.value.errors
    assert [error.split(": ")[0] for error in errors] == [field], errors
    assert words in errors[0], errors
    return errors[0]


def stream(**fields):
    entry = {"name": "s", "listen": "19000", "servers": [{"address": "127.0.0.1:9101"}]}
    entry.update(fields)
    return entry


def upstreams_with(**server):
    upstreams, dummy = tutorial_vars()
    upstreams[1]["servers"][0].update(server)
    return upstreams


# ------------------------------------------------------------ addresses

ZONE_IDS = ["[fe80::1%x #]", "[fe80::1%eth0]", "[::1%lo]", "[fe80::1%25eth0]", "[fe80::1%]", "[fe80::1%1]"]


@pytest.mark.parametrize("host", ZONE_IDS)
def test_an_ipv6_zone_id_is_refused_in_server_listen_and_stream_listen(host):
    refused("load_balancer_upstreams[1].servers[0].address", "zone id",
            upstreams=upstreams_with(address=host + ":7001"))
    refused("load_balancer_listen", "zone id", load_balancer_listen=host + ":18080")
    refused("load_balancer_streams[0].listen", "zone id", streams=[stream(listen=host + ":19000")])


MAPPED = ["[::ffff:127.0.0.1]", "[::FFFF:7f00:1]", "[0:0:0:0:0:ffff:127.0.0.1]", "[::ffff:0.0.0.0]"]


@pytest.mark.parametrize("host", MAPPED)
def test_an_ipv4_mapped_listen_is_refused(host):
    refused("load_balancer_listen", "IPv4-mapped", load_balancer_listen=host + ":18080")
    refused("load_balancer_streams[0].listen", "IPv4-mapped", streams=[stream(listen=host + ":19000")])


@pytest.mark.parametrize("host", ["[fe80::1]", "[fe80::abcd:1]", "[febf::1]", "[FE80:0::1]"])
def test_a_link_local_listen_is_refused(host):
    # nginx -t binds it and fails: "bind() to [fe80::1]:19000 failed (22: Invalid argument)".
    refused("load_balancer_listen", "link-local", load_balancer_listen=host + ":18080")
    refused("load_balancer_streams[0].listen", "link-local", streams=[stream(listen=host + ":19000")])


@pytest.mark.parametrize("listen", ["localhost:19000", "LOCALHOST:19000", "lb.example.test:19000", "localhost.:19000"])
def test_a_host_name_in_a_listen_is_refused(listen):
    refused("load_balancer_listen", "not a host name", load_balancer_listen=listen)
    refused("load_balancer_streams[0].listen", "not a host name", streams=[stream(listen=listen)])


@pytest.mark.parametrize("first, second", [
    ("127.0.0.1:19000", "localhost:19000"),         # the host name is refused before any comparison
    ("19000", "localhost:19000"),
])
def test_a_second_spelling_of_a_stream_socket_is_refused_by_name(first, second):
    refused("load_balancer_streams[1].listen", "not a host name",
            streams=[stream(listen=first), stream(name="t", listen=second)])


@pytest.mark.parametrize("first, second", [
    ("127.0.0.1:19000", "19000"), ("[::1]:19000", "[0:0::1]:19000"), ("[::1]:19000", "[0000::0001]:19000"),
    ("0.0.0.0:19000", "127.0.0.1:19000"),
])
def test_the_same_socket_spelled_twice_clashes(first, second):
    refused("load_balancer_streams[1].listen", "already taken by load_balancer_streams[0].listen",
            streams=[stream(listen=first), stream(name="t", listen=second)])


def test_addresses_nginx_reads_as_meant_pass():
    build(upstreams=upstreams_with(address="[fe80::1]:7001"), load_balancer_listen="[::1]:18080",
          streams=[stream(listen="127.0.0.1:19000"), stream(name="t", listen="[::1]:19001"),
                   stream(name="w", listen="[::]:19003")])


# ------------------------------------------------------------ regex server names

CAPTURE_33 = "a" * 33
# Each of these makes `nginx -t` fail (pcre2_compile or a duplicate variable).
REGEX_NGINX_REFUSES = [
    ("~^(?<host>.+)\\.x$", "nginx variable"),
    ("~^(?<Host>.+)\\.x$", "nginx variable"),
    ("~(?<remote_addr>a)", "nginx variable"),
    ("~(?<http_host>a)", "nginx variable"),
    ("~(?<gzip_ratio>a)", "nginx variable"),
    ("~(?<server_port>a)", "nginx variable"),
    ("~(?<%s>a)" % CAPTURE_33, "at most 32"),
    ("~(?<1a>a)", "a letter or '_'"),
    ("~(?<a-b>a)", "a letter or '_'"),
    ("~(?<a>x)(?<a>y)", "given twice"),
    ("~^\\u0041$", "escape '\\\\u'"),
    ("~^\\U00000041$", "escape '\\\\U'"),
    ("~^\\N{DIGIT_ONE}$", "escape '\\\\N'"),
    ("~(?a)x", "group '(?a)"),
    ("~(?P=n)", "group '(?P="),
    ("~[\\u0041]", "escape '\\\\u' in a class"),
    ("~x{65536}", "at most 65535"),
    ("~x{1,65536}", "at most 65535"),
    ("~x{2,1}", "the lower first"),
    ("~", "needs a regular expression"),
    ("~^*", "after nothing repeatable"),
    ("~a**", "after nothing repeatable"),
    ("~(a", "unbalanced '('"),
    ("~a)", "unbalanced ')'"),
    ("~[a", "unterminated '['"),
    ("~[z-a]", "does not compile"),
]
# nginx takes these, but outside the subset PCRE2 and Python read alike: a
# prefix of the variables nginx declares on demand ($http_x), escapes and
# flags whose meaning differs (\\Z, x{,5} is literal in PCRE2 10.42),
# lookbehind, backreferences, POSIX classes, deep nesting.
REGEX_OUTSIDE_SUBSET = [
    ("~(?<http_x>a)", "nginx variable"),
    ("~(?<ssl_server_name>a)", "nginx variable"),
    ("~^\\x41$", "escape '\\\\x'"),
    ("~^a\\Z", "escape '\\\\Z'"),
    ("~^a\\z", "escape '\\\\z'"),
    ("~(a)\\1", "escape '\\\\1'"),
    ("~(?i)x", "group '(?i)"),
    ("~(?x)a", "group '(?x)"),
    ("~(?#c)a", "group '(?#c"),
    ("~(?<=a)b", "group '(?<="),
    ("~[[:alpha:]]+", "'[' in a class"),
    ("~x{,5}", "'{' that is no"),
    ("~x{", "'{' that is no"),
    ("~" + "(" * 40 + "a" + ")" * 40, "nested deeper"),
]
REGEX_REFUSED = REGEX_NGINX_REFUSES + REGEX_OUTSIDE_SUBSET


@pytest.mark.parametrize("name, words", REGEX_REFUSED)
def test_a_regex_server_name_pcre2_would_refuse_is_named(name, words):
    refused("load_balancer_server_name", words, load_balancer_server_name="example.com " + name)


@pytest.mark.parametrize("name", [
    "~^(?<sub>.+)\\.example\\.com$", "~^x{2}y;$", "~x{65535}", "~x{0,65535}?", "~^(?<%s>.+)$" % ("a" * 32),
    "~^(www\\.)?ex[a-z0-9-]+\\.(com|org)$", "~(?:a|b)+?", "~(?=a)a", "~(?!b)a", "~[\\d.]+", "~^\\w+\\b", "~\\Aa",
    "~(?P<sub>a)", "~(?<_x>a)", "~(?<argument>a)", "~a\\{b\\}", "~[]a]".replace("]a", "\\]a"),
])
def test_a_regex_server_name_both_read_alike_passes(name):
    model = build(load_balancer_server_name=name)
    assert model.site.server_names == [name]


# ------------------------------------------------------------ names nginx compares differently

@pytest.mark.parametrize("index, name, field, words", [
    (1, "App_Server_7001", "load_balancer_upstreams[1].name", "without case: 'app_server_7001'"),
    (1, "APP_SERVER_7001", "load_balancer_upstreams[1].name", "without case"),
    (4, "LeastConn", "load_balancer_upstreams[4].name", "without case: 'leastconn'"),
    (1, "SSL", "load_balancer_upstreams[1].name", "ssl_session_cache"),
])
def test_an_upstream_name_nginx_takes_for_another_is_named(index, name, field, words):
    upstreams, locations = tutorial_vars()
    old = upstreams[index]["name"]
    upstreams[index]["name"] = name
    for location in locations:
        if location["upstream"] == old:
            location["upstream"] = name
    refused(field, words, upstreams=upstreams, locations=locations)


@pytest.mark.parametrize("name, words", [("Roundrobin", "without case: 'roundrobin'"), ("SSL", "ssl_session_cache")])
def test_a_stream_name_nginx_takes_for_another_is_named(name, words):
    refused("load_balancer_streams[0].name", words, streams=[stream(name=name)])


def test_a_zone_name_that_differs_in_case_from_the_roles_passes():
    # nginx compares shared memory zone names with case: 'ssl' is not 'SSL'.
    upstreams, dummy = tutorial_vars()
    upstreams[1]["name"] = "ssl"
    build(upstreams=upstreams, locations=[], streams=[stream(name="Ssl_stream")])


def test_the_roles_zone_names_are_the_ones_its_nginx_conf_declares():
    default = re.match(r"\Ashared:(?P<name>[A-Za-z0-9_]+):", "shared:SSL:10m")
    assert _syntax.ROLE_ZONE_NAMES == (default.group("name"),)
    assert _main_conf.SSL_SESSION_CACHE_RE.match("shared:%s:10m" % _syntax.ROLE_ZONE_NAMES[0])


@pytest.mark.parametrize("name", [".", "..", "...", "1..2", "999.1.1.1", "1.2.3", "[:]", "[...]", "[fe80::1%eth0]",
                                  "[::g]", "a..b", "*.", ".*", "*"])
def test_a_server_name_nginx_reads_otherwise_is_named(name):
    refused("load_balancer_server_name", "%r is not a" % name, load_balancer_server_name="example.com " + name)


@pytest.mark.parametrize("name", ["127.0.0.1", "[::1]", "[0:0::1]", ".example.com", "*.example.org", "www.example.*",
                                  "_", "a-b.example"])
def test_server_names_nginx_reads_as_meant_pass(name):
    build(load_balancer_server_name=name)


@pytest.mark.parametrize("length", [47, 48, 56, 64, 65])
def test_a_header_name_longer_than_the_header_hash_holds_is_named(length):
    name = "X" + "a" * (length - 1)
    refused("load_balancer_proxy_set_headers.%s" % name, "at most 46",
            load_balancer_proxy_set_headers={"Host": "$host", name: "v"})


@pytest.mark.parametrize("length", [1, 45, 46])
def test_a_header_name_the_hash_holds_passes(length):
    build(load_balancer_proxy_set_headers={"X" + "a" * (length - 1): "v"})


# ------------------------------------------------------------ paths nginx normalises

NOT_NORMAL = ["/a//b", "//", "//a", "/a/./b", "/./a", "/a/../b", "/../a", "/a/.", "/a/..", "/.", "/..", "/a/./",
              "/a/../", "/a//"]


@pytest.mark.parametrize("path", NOT_NORMAL)
def test_a_location_path_nginx_never_matches_is_named(path):
    refused("load_balancer_locations[0].path", "normal form",
            locations=[{"path": path, "upstream": "roundrobin"}])


@pytest.mark.parametrize("path", ["/", "/.well-known", "/a.b", "/...", "/a..b", "/a/", "/.a/b.", "/~x/-y"])
def test_a_normalised_location_path_passes(path):
    build(locations=[{"path": path, "upstream": "roundrobin"}])


# ------------------------------------------------------------ ACME challenge location

@pytest.mark.parametrize("path", ["/.well-known/acme-challenge", "/.well-known/acme-challenge/"])
def test_a_location_on_the_acme_challenge_path_beside_it_is_named(path):
    refused("load_balancer_locations[1].path", "ACME HTTP-01 location", load_balancer_tls=ACME_TLS,
            locations=[{"path": "/", "upstream": "roundrobin"}, {"path": path, "upstream": "roundrobin"}])


@pytest.mark.parametrize("tls, path", [
    (dict(ACME_TLS, redirect=True), "/.well-known/acme-challenge"),    # the ACME location is in the redirect server
    ({"mode": "selfsigned", "redirect": False}, "/.well-known/acme-challenge"),
    (ACME_TLS, "/.well-known"),
    (ACME_TLS, "/.well-known/acme-challenge/x"),
    (ACME_TLS, "/.Well-Known/acme-challenge"),                          # nginx compares locations with case
])
def test_locations_that_do_not_clash_with_the_acme_location_pass(tls, path):
    build(load_balancer_tls=tls, locations=[{"path": path, "upstream": "roundrobin"}])


def test_the_acme_rule_follows_the_template():
    assert _tls.acme_location_in_server(_tls.tls_from_var(ACME_TLS, "load_balancer_tls", []))
    assert not _tls.acme_location_in_server(_tls.tls_from_var(dict(ACME_TLS, redirect=True), "t", []))


# ------------------------------------------------------------ anchored allow-lists

# Patterns used to find parts of a text, not to judge a whole value.
SEARCH_PATTERNS = ("VARIABLE_RE", "WEAK_CIPHER_RE")


@pytest.mark.parametrize("module", [_syntax, _tls, _main_conf], ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_every_allow_list_is_anchored_with_A_and_Z(module):
    patterns = {name: value for name, value in vars(module).items()
                if isinstance(value, re.Pattern) and name not in SEARCH_PATTERNS}
    assert patterns
    loose = [name for name, pattern in patterns.items()
             if not (pattern.pattern.startswith(r"\A") and pattern.pattern.endswith(r"\Z"))]
    assert loose == []
