"""A parsed nginx config -> the model."""

import pytest

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model import Server
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model_config import model_from_config
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model_vars import model_from_vars
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._nginx_conf import parse
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._render import server_args

from helpers.paths import SEED_UPSTREAM_CONF, tutorial_vars


def test_defaults_reproduce_the_tutorial():
    model = model_from_vars(*tutorial_vars())
    tutorial = model_from_config(parse(SEED_UPSTREAM_CONF.read_text(), "upstream.conf"))
    assert [(u.name, u.method, [(s.address, s.weight) for s in u.servers]) for u in model.upstreams] == \
        [(u.name, u.method, [(s.address, s.weight) for s in u.servers]) for u in tutorial.upstreams]
    assert [(loc.path, loc.upstream) for loc in model.locations] == \
        [(loc.path, loc.upstream) for loc in tutorial.locations]


def test_server_directive_args():
    server = Server("10.0.0.1:80", weight=3, max_fails=2, fail_timeout="5s", max_conns=10, backup=True)
    assert server_args(server) == ["10.0.0.1:80", "weight=3", "max_fails=2", "fail_timeout=5s",
                                   "max_conns=10", "backup"]


@pytest.mark.parametrize("config, listen, names", [
    ("server { listen 8080; server_name a b; location /x/ { proxy_pass http://u; } }", "8080", ["a", "b"]),
    ("server { listen [::1]:80 default_server; location /x/ { proxy_pass http://u; } }", "[::1]:80", []),
])
def test_the_site_is_the_server_block_that_proxies(config, listen, names):
    model = model_from_config(parse("server { listen 1; }\n" + config, "t.conf"))
    assert (model.site.listen, model.site.server_names) == (listen, names)


def test_weights_in_other_digits_are_not_read_as_numbers():
    model = model_from_config(parse("upstream a { server h:1 weight=²; }", "t.conf"))
    assert model.upstreams[0].servers[0].weight == 1


def test_stream_blocks_become_streams_not_http_upstreams():
    config = """
    http { upstream h { server 127.0.0.1:7001; } server { listen 80; location /h/ { proxy_pass http://h; } } }
    stream {
        upstream t { least_conn; zone t 64k; server 127.0.0.1:9101 weight=2; server 127.0.0.1:9102 backup; }
        upstream u { hash $remote_addr consistent; zone u 64k; server 127.0.0.1:9201; }
        server { listen 127.0.0.1:9000; proxy_pass t; proxy_timeout 30s; proxy_connect_timeout 500ms;
                 proxy_protocol on; access_log /var/log/s.log edgeops_stream; }
        server { listen 9053 udp reuseport; proxy_pass u; proxy_responses 1; }
    }"""
    model = model_from_config(parse(config, "nginx.conf"))
    assert [u.name for u in model.upstreams] == ["h"] and [loc.path for loc in model.locations] == ["/h/"]
    assert model.site.listen == "80"
    tcp, udp = model.streams
    assert (tcp.name, tcp.listen, tcp.protocol, tcp.proxy_timeout, tcp.proxy_connect_timeout, tcp.proxy_protocol,
            tcp.access_log) == ("t", "127.0.0.1:9000", "tcp", "30s", "500ms", True, "/var/log/s.log")
    assert (tcp.upstream.method, tcp.upstream.zone, [server_args(s) for s in tcp.upstream.servers]) == \
        ("least_conn", "64k", [["127.0.0.1:9101", "weight=2"], ["127.0.0.1:9102", "backup"]])
    assert (udp.listen, udp.protocol, udp.upstream.method, udp.upstream.hash_key, udp.upstream.consistent) == \
        ("9053", "udp", "hash", "$remote_addr", True)
    assert udp.verify_address() == "127.0.0.1:9053" and tcp.verify_address() == "127.0.0.1:9000"
