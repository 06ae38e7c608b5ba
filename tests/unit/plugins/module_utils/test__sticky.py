# -*- coding: utf-8 -*-
# Copyright: edgeops engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sticky cookie sessions (nginx >= 1.29.6) through the model: read from the
role's variables (_model_vars), judged by the one check and the host's nginx
version (_check, _features), written (_render) and read back (_model_config)."""

from __future__ import annotations

import pytest

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model import ModelError
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model_config import model_from_config
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model_vars import model_from_vars
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._nginx_conf import parse
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._render import model_to_dict, sticky_args

SERVERS = [{"address": "127.0.0.1:7001", "weight": 2}, {"address": "127.0.0.1:7002"}]


def build(sticky, nginx_version="1.30.6", **upstream):
    upstreams = [{"name": "web", "servers": SERVERS}, dict({"name": "app", "sticky": sticky, "servers": SERVERS},
                                                           **upstream)]
    return model_from_vars(upstreams, [{"path": "/app", "upstream": "app"}], nginx_version=nginx_version)


def errors_of(sticky, nginx_version="1.30.6", **upstream):
    with pytest.raises(ModelError) as caught:
        build(sticky, nginx_version, **upstream)
    return caught.value.errors


@pytest.mark.parametrize("sticky, words", [
    ({"cookie": "srv"}, ["sticky", "cookie", "srv"]),
    ({"cookie": "srv_id", "expires": "1h", "path": "/", "httponly": True, "secure": "yes", "samesite": "lax"},
     ["sticky", "cookie", "srv_id", "expires=1h", "path=/", "httponly", "secure", "samesite=lax"]),
    ({"cookie": "s-1", "expires": "max", "samesite": "none", "secure": True},
     ["sticky", "cookie", "s-1", "expires=max", "secure", "samesite=none"]),
    ({"cookie": "srv", "path": "/app/v1", "httponly": "off"}, ["sticky", "cookie", "srv", "path=/app/v1"]),
])
def test_sticky_is_written_as_nginx_reads_it_and_reads_back_equal(sticky, words):
    model = build(sticky)
    assert sticky_args(model.upstreams[1]) == words
    assert sticky_args(model.upstreams[0]) is None
    data = model_to_dict(model)
    assert data["upstreams"][1]["sticky_args"] == words
    text = "upstream app {\n    zone app 64k;\n    server 127.0.0.1:7001 weight=2;\n    server 127.0.0.1:7002;\n" \
           "    %s;\n}\n" % " ".join(words)
    assert model_from_config(parse(text)).upstreams[0].sticky == model.upstreams[1].sticky


@pytest.mark.parametrize("sticky, field, words", [
    ({"cookie": "srv;x"}, "sticky.cookie", "must be 1-64 letters, digits, '_' or '-'"),
    ({"cookie": ""}, "sticky.cookie", "must be 1-64 letters"),
    ({"cookie": "c" * 65}, "sticky.cookie", "must be 1-64 letters"),
    ({"cookie": "srv", "expires": "1 h"}, "sticky.expires", "must be an nginx time"),
    ({"cookie": "srv", "expires": "100ms"}, "sticky.expires", "must be an nginx time"),
    ({"cookie": "srv", "expires": "2y"}, "sticky.expires", "must be at most one year"),
    ({"cookie": "srv", "path": "app"}, "sticky.path", "must be a path like / or /app"),
    ({"cookie": "srv", "path": "/a;b"}, "sticky.path", "must be a path like / or /app"),
    ({"cookie": "srv", "samesite": "Strict"}, "sticky.samesite", "must be one of strict, lax, none"),
    ({"cookie": "srv", "samesite": "none"}, "sticky.samesite", "none without secure"),
    ({"cookie": "srv", "httponly": "maybe"}, "sticky.httponly", "must be a boolean"),
    ({"cookie": "srv", "domain": "example.test"}, "sticky.domain", "unknown key"),
    ({"expires": "1h"}, "sticky.cookie", "must be a string"),
    ("srv", "sticky", "must be a dict with a cookie name"),
])
def test_each_sticky_field_has_an_allow_list_and_is_named(sticky, field, words):
    errors = errors_of(sticky)
    assert any(error.startswith("load_balancer_upstreams[1].%s: " % field) and words in error
               for error in errors), errors


@pytest.mark.parametrize("version, error", [
    ("1.22.1", "load_balancer_upstreams[1].sticky: needs nginx >= 1.29.6 (sticky cookie sessions), this host has "
               "1.22.1"),
    ("1.26.3", "load_balancer_upstreams[1].sticky: needs nginx >= 1.29.6 (sticky cookie sessions), this host has "
               "1.26.3"),
    ("1.29.5", "load_balancer_upstreams[1].sticky: needs nginx >= 1.29.6 (sticky cookie sessions), this host has "
               "1.29.5"),
])
def test_sticky_on_an_older_nginx_is_the_named_error(version, error):
    assert errors_of({"cookie": "srv"}, version) == [error]


@pytest.mark.parametrize("version", ["1.29.6", "1.30.6", None])
def test_sticky_is_taken_from_1_29_6_or_when_the_version_is_unknown(version):
    assert build({"cookie": "srv"}, version).upstreams[1].sticky.cookie == "srv"


def test_a_stream_has_no_sticky():
    with pytest.raises(ModelError) as caught:
        model_from_vars([], [], streams=[{"name": "tcp", "listen": 9000, "sticky": {"cookie": "srv"},
                                          "servers": [{"address": "127.0.0.1:9101"}]}])
    assert any(error.startswith("load_balancer_streams[0].sticky: unknown key") for error in caught.value.errors)


@pytest.mark.parametrize("line, sticky", [
    ("sticky route $cookie_x;", None),
    ("sticky learn create=$upstream_cookie_s lookup=$cookie_s zone=s:1m;", None),
    ("sticky cookie srv samesite=strict secure bogus;", {"cookie": "srv", "samesite": "strict", "secure": True}),
])
def test_the_parser_reads_the_cookie_kind_only(line, sticky):
    upstream = model_from_config(parse("upstream u {\n    server 127.0.0.1:7001;\n    %s\n}\n" % line)).upstreams[0]
    if sticky is None:
        assert upstream.sticky is None
    else:
        assert {key: getattr(upstream.sticky, key) for key in sticky} == sticky
