# -*- coding: utf-8 -*-
# Copyright: edgeops engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What _render writes for the host's nginx version: http2 (1.25.1), the
keepalive defaults of 1.29.7, nginx's own drain."""

from __future__ import annotations

import pytest

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model import Server
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model_vars import model_from_vars
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._render import (
    http2_words, keepalive_args, model_to_dict, server_args)

UPSTREAMS = [{"name": "kept", "keepalive": 16, "servers": [{"address": "127.0.0.1:7001"}]},
             {"name": "none", "keepalive": 0, "servers": [{"address": "127.0.0.1:7002"}]}]
SITE = {"load_balancer_listen": "127.0.0.1:8080",
        "load_balancer_tls": {"mode": "selfsigned", "redirect": False, "http2": True}}


def rendered(version):
    return model_to_dict(model_from_vars(UPSTREAMS, [{"path": "/a", "upstream": "kept"}], site_vars=SITE,
                                         nginx_version=version))


@pytest.mark.parametrize("version, listen, directive", [
    (None, " http2", False),        # unknown: the listen parameter every version reads
    ("1.22.1", " http2", False),
    ("1.25.0", " http2", False),
    ("1.25.1", "", True),
    ("1.26.3", "", True),
    ("1.30.6", "", True),
])
def test_http2_is_written_for_the_host_s_nginx(version, listen, directive):
    assert http2_words(True, version) == (listen, directive)
    assert http2_words(False, version) == ("", False)
    tls = rendered(version)["sites"][0]["tls"]
    assert (tls["http2_listen"], tls["http2_directive"]) == (listen, directive)


@pytest.mark.parametrize("version, headers, none_args", [
    (None, True, None),
    ("1.22.1", True, None),
    ("1.26.3", True, None),
    ("1.29.6", True, None),
    # 1.29.7: HTTP/1.1 and keepalive 32 by default; `keepalive 0` keeps "none" meaning none.
    ("1.29.7", False, ["keepalive", "0"]),
    ("1.30.6", False, ["keepalive", "0"]),
])
def test_the_keepalive_defaults_of_1_29_7(version, headers, none_args):
    data = rendered(version)
    assert data["sites"][0]["proxy_keepalive_headers"] is headers
    kept, none = data["upstreams"]
    assert kept["keepalive_args"] == ["keepalive", "16"]
    assert none["keepalive_args"] == none_args
    assert keepalive_args(model_from_vars(UPSTREAMS, []).upstreams[1], version) == none_args


@pytest.mark.parametrize("server, args", [
    (Server("127.0.0.1:7001", drain=True), ["127.0.0.1:7001", "drain"]),
    (Server("127.0.0.1:7001", weight=2, drain=True), ["127.0.0.1:7001", "weight=2", "drain"]),
    (Server("127.0.0.1:7001", down=True, drain=True), ["127.0.0.1:7001", "down"]),
])
def test_drain_is_a_server_parameter(server, args):
    assert server_args(server) == args
