"""The one nginx parser."""

import os

import pytest

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._nginx_conf import (
    ParseError,
    parse,
    parse_file,
    walk,
)

from helpers.paths import SEED_UPSTREAM_CONF


def find_all(tree, name):
    """Every directive called `name`, depth first (the tests' way to pick directives)."""
    return [directive for directive in walk(tree) if directive.name == name]


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


# Issue 10, finding 6: nginx takes any byte in a comment or a string; the
# parser must too, and what it returns must be text that JSON can carry.

def _is_text(value):
    value.encode("utf-8")  # raises on a surrogate-escaped byte
    return True


def test_a_latin1_include_parses_and_its_bytes_come_back_as_text(tmp_path):
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "nginx.conf").write_bytes(b"# caf\xe9 (Latin-1)\nhttp {\n include conf.d/*.conf;\n}\n")
    (tmp_path / "conf.d" / "a.conf").write_bytes(
        b"# caf\xe9\nupstream a { server h:1; }\n"
        b"server {\n add_header X-Note \"caf\xe9\";\n location /caf\xe9 { proxy_pass http://a; }\n}\n")
    tree = parse_file(str(tmp_path / "nginx.conf"))
    assert [u.args for u in find_all(tree, "upstream")] == [["a"]]
    note = find_all(tree, "add_header")[0]
    assert note.args == ["X-Note", "caf\\xe9"] and note.line == 4
    assert find_all(tree, "location")[0].args == ["/caf\\xe9"]
    assert all(_is_text(word) for d in walk(tree) for word in [d.name, d.file] + d.args)


def test_utf8_stays_utf8_and_bytes_parse_like_text():
    assert parse("add_header X \"caf\u00e9\";")[0].args == ["X", "caf\u00e9"]
    assert parse("add_header X \"caf\u00e9\";".encode("utf-8"))[0].args == ["X", "caf\u00e9"]
    assert parse(b"add_header X \"caf\xe9\";")[0].args == ["X", "caf\\xe9"]


def test_a_file_name_with_a_latin1_byte_is_shown_as_text(tmp_path):
    (tmp_path / "nginx.conf").write_text("include *.inc;\n")
    (tmp_path / os.fsdecode(b"caf\xe9.inc")).write_text("upstream a { server h:1; }\n")
    tree = parse_file(str(tmp_path / "nginx.conf"))
    assert tree[0].file == str(tmp_path / "caf\\xe9.inc")


def test_a_directory_matched_by_an_include_glob_is_a_parse_error(tmp_path):
    (tmp_path / "conf.d" / "old.conf").mkdir(parents=True)
    (tmp_path / "nginx.conf").write_text("http {\n include conf.d/*.conf;\n}\n")
    with pytest.raises(ParseError) as caught:
        parse_file(str(tmp_path / "nginx.conf"))
    assert caught.value.file == str(tmp_path / "conf.d" / "old.conf")
    assert "cannot read" in str(caught.value) and "directory" in str(caught.value)
    # Where it was included from.
    assert "included from %s:2" % (tmp_path / "nginx.conf") in str(caught.value)


def test_an_unreadable_file_is_a_parse_error(tmp_path, monkeypatch):
    (tmp_path / "secret.conf").write_text("upstream a { server h:1; }\n")
    (tmp_path / "nginx.conf").write_text("include secret.conf;\n")
    real_open = os.open

    def no_permission(path, *args, **kwargs):
        if str(path).endswith("secret.conf"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("os.open", no_permission)
    with pytest.raises(ParseError) as caught:
        parse_file(str(tmp_path / "nginx.conf"))
    assert "Permission denied" in str(caught.value) and caught.value.file == str(tmp_path / "secret.conf")


def test_a_missing_main_file_is_a_parse_error_without_line_none(tmp_path):
    with pytest.raises(ParseError) as caught:
        parse_file(str(tmp_path / "nginx.conf"))
    assert "No such file" in str(caught.value) and ":None" not in str(caught.value)


@pytest.mark.parametrize("files", [
    {"nginx.conf": "include nginx.conf;\n"},
    {"nginx.conf": "http { include conf.d/*.conf; }\n", "conf.d/a.conf": "include conf.d/b.conf;\n",
     "conf.d/b.conf": "include conf.d/a.conf;\n"},
    {"nginx.conf": "include *.conf;\n", "a.conf": "upstream a { server h:1; }\n"},
], ids=["file includes itself", "two files include each other", "a glob matches the main file"])
def test_an_include_loop_is_a_parse_error(tmp_path, files):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    with pytest.raises(ParseError) as caught:
        parse_file(str(tmp_path / "nginx.conf"))
    assert "include loop" in str(caught.value)


def test_the_same_file_included_twice_side_by_side_is_no_loop(tmp_path):
    (tmp_path / "u.inc").write_text("keepalive 8;\n")
    (tmp_path / "nginx.conf").write_text("upstream a { include u.inc; }\nupstream b { include u.inc; }\n")
    tree = parse_file(str(tmp_path / "nginx.conf"))
    assert [d.name for d in walk(tree)] == ["upstream", "keepalive", "upstream", "keepalive"]
