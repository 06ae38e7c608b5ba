"""The one nginx parser."""

import pytest

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._nginx_conf import (
    ParseError,
    find_all,
    parse,
    parse_file,
    walk,
)

from paths import SEED_UPSTREAM_CONF


def test_tutorial_config_parses_with_lines():
    tree = parse(SEED_UPSTREAM_CONF.read_text(), "upstream.conf")
    assert [d.args[0] for d in tree if d.name == "upstream"] == \
        ["app_server_7001", "roundrobin", "leastconn", "iphash", "weighted"]
    weighted = tree[4]
    assert [(d.name, d.args, d.line) for d in weighted.block] == [
        ("server", ["127.0.0.1:7001", "weight=2"], 30), ("server", ["127.0.0.1:7002"], 31),
        ("server", ["127.0.0.1:7003"], 32)]
    proxies = find_all(tree, "proxy_pass")
    assert [d.args[0] for d in proxies] == ["http://app_server_7001/", "http://roundrobin/", "http://leastconn/",
                                            "http://iphash/", "http://weighted/"]


@pytest.mark.parametrize("text, name, args", [
    ('log_format x \'$a "q" {b}\' "two words";', "log_format", ["x", '$a "q" {b}', "two words"]),
    (r'add_header X "a \"quoted\" word";', "add_header", ["X", 'a "quoted" word']),
    ("rewrite ^/x(/.*)$ $1 break;", "rewrite", ["^/x(/.*)$", "$1", "break"]),
    ("set $v ${host}x; # comment ; {", "set", ["$v", "${host}x"]),
    ("return 200 'a;b';", "return", ["200", "a;b"]),
])
def test_lexical_rules(text, name, args):
    tree = parse(text)
    assert (tree[0].name, tree[0].args) == (name, args)


def test_blocks_nest_and_walk_in_order():
    tree = parse("http {\n server {\n  location / { return 404; }\n }\n}\n")
    assert [(d.name, d.line) for d in walk(tree)] == [("http", 1), ("server", 2), ("location", 3), ("return", 3)]


@pytest.mark.parametrize("text, words, line", [
    ("upstream a { server h:1 }", "missing ';'", 1),
    ("upstream a {\n server h:1;\n", "unclosed block 'upstream'", 1),
    ("server h:1;\n}", "unexpected '}'", 2),
    ("a 'open;\n", "unterminated quoted string", 1),
    ("\n;", "unexpected ';'", 2),
])
def test_errors_name_the_line(text, words, line):
    with pytest.raises(ParseError) as caught:
        parse(text, "bad.conf")
    assert words in str(caught.value) and caught.value.line == line and caught.value.file == "bad.conf"


def test_includes_resolve_against_the_main_config_directory(tmp_path):
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "snippets").mkdir()
    (tmp_path / "nginx.conf").write_text("http {\n include conf.d/*.conf;\n}\n")
    (tmp_path / "conf.d" / "b.conf").write_text("upstream b { server h:2; }\n")
    # Relative to the main file's directory, also from an included file.
    (tmp_path / "conf.d" / "a.conf").write_text("upstream a { server h:1; }\ninclude snippets/x.conf;\n")
    (tmp_path / "snippets" / "x.conf").write_text("upstream x { server h:3; }\n")
    tree = parse_file(str(tmp_path / "nginx.conf"))
    upstreams = find_all(tree, "upstream")
    assert [u.args[0] for u in upstreams] == ["a", "x", "b"]
    assert upstreams[1].file == str(tmp_path / "snippets" / "x.conf")
