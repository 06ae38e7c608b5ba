"""TCP and UDP streams of the load_balancer role, rendered without a host:
the stream file reads back as the model it came from, the host's nginx -t
(with the stream module loaded as nginx.conf loads it) accepts it, and bad
stream input stops in the preflight naming its field."""

from pathlib import Path

import pytest

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model_config import model_from_config
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model_vars import model_from_vars
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._nginx_check import check_candidate
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._nginx_conf import parse
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._render import server_args

from helpers.localnet import NGINX, needs_nginx
from test_load_balancer_render import render

MODULES = ["/etc/nginx/modules-enabled/*.conf"]
STREAM_MODULE = Path("/usr/lib/nginx/modules/ngx_stream_module.so")
needs_stream = pytest.mark.skipif(not STREAM_MODULE.exists(),
                                  reason="nginx's stream module is not installed (make host-tools)")

STREAMS = [
    {"name": "tcp_rr", "listen": 19000, "servers": [{"address": "127.0.0.1:19101"}, {"address": "127.0.0.1:19102"}]},
    {"name": "tcp_weighted", "listen": "127.0.0.1:19001", "proxy_timeout": "30s", "proxy_connect_timeout": "500ms",
     "servers": [{"address": "127.0.0.1:19101", "weight": 2, "max_fails": 3, "fail_timeout": "5s"},
                 {"address": "127.0.0.1:19102", "max_conns": 100}, {"address": "127.0.0.1:19103", "backup": True}]},
    {"name": "udp_hash", "listen": 19053, "protocol": "udp", "method": "hash", "hash_key": "$remote_addr",
     "consistent": True, "servers": [{"address": "127.0.0.1:19201"}, {"address": "127.0.0.1:19202", "down": True}]},
    {"name": "tcp_random", "listen": 19002, "method": "random", "two": True, "proxy_protocol": True,
     "servers": [{"address": "127.0.0.1:19101"}]},
    {"name": "tcp_lc", "listen": 19003, "method": "least_conn", "zone": "128k",
     "servers": [{"address": "127.0.0.1:19101"}]},
]


def render_streams(tmp_path, streams, **role_vars):
    out = tmp_path / "stream.conf"
    proc, dummy = render(tmp_path, load_balancer_streams=streams, out_stream=str(out), **role_vars)
    return proc, (out.read_text() if out.exists() else None)


@pytest.fixture(scope="module")
def stream_config(tmp_path_factory):
    proc, text = render_streams(tmp_path_factory.mktemp("stream"), STREAMS)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return text


def _shape(stream):
    upstream = stream.upstream
    return (stream.name, stream.listen, stream.protocol, stream.proxy_timeout, stream.proxy_connect_timeout,
            stream.proxy_protocol, stream.access_log, upstream.method, upstream.hash_key, upstream.consistent,
            upstream.two, upstream.zone, [server_args(s) for s in upstream.servers])


def test_rendered_streams_read_back_as_the_same_model(stream_config):
    expected = model_from_vars([], [], streams=STREAMS, default_zone="64k")
    seen = model_from_config(parse(stream_config, "edgeops_stream.conf"))
    assert [_shape(s) for s in seen.streams] == [_shape(s) for s in expected.streams]
    # Stream upstreams are not HTTP upstreams.
    assert seen.upstreams == [] and seen.locations == []


def test_every_stream_upstream_has_a_zone_and_udp_one_answer(stream_config):
    assert stream_config.startswith("#\n# Ansible managed\n#\n")
    for stream in STREAMS:
        assert "zone %s " % stream["name"] in stream_config
    assert "listen 19053 udp;" in stream_config and stream_config.count("proxy_responses 1;") == 1
    assert "access_log /var/log/nginx/edgeops_stream.access.log edgeops_stream;" in stream_config
    assert "upstream=$upstream_addr" in stream_config
    block = stream_config[stream_config.index("upstream udp_hash {"):]
    # The method line before the servers (nginx refuses backup only then).
    assert [line.strip() for line in block.splitlines()[1:3]] == ["hash $remote_addr consistent;", "zone udp_hash 64k;"]


@needs_nginx
@needs_stream
def test_nginx_accepts_the_rendered_streams(stream_config):
    result = check_candidate(stream_config, NGINX, shown_name="edgeops_stream.conf", stream_modules=MODULES)
    assert result.valid, result.output


@needs_nginx
@needs_stream
def test_nginx_rejects_a_broken_stream_candidate_with_its_own_words():
    result = check_candidate("stream {\n  upstream a {\n    ip_hash;\n    server 127.0.0.1:1;\n  }\n}\n", NGINX,
                             shown_name="bad_stream.conf", stream_modules=MODULES)
    assert not result.valid
    assert result.errors[0]["file"] == "bad_stream.conf" and result.errors[0]["line"] == 3
    assert '"ip_hash" directive is not allowed here' in result.errors[0]["message"] \
        or 'unknown directive "ip_hash"' in result.errors[0]["message"], result.errors


@needs_nginx
def test_a_stream_candidate_without_the_module_is_refused():
    """The module loaders are what make `stream` known: without them nginx -t says so."""
    result = check_candidate("stream { }\n", NGINX, shown_name="s.conf", stream_modules=[])
    assert not result.valid and 'unknown directive "stream"' in result.errors[0]["message"]


def test_a_module_pattern_that_is_not_a_path_is_refused_before_nginx_runs():
    with pytest.raises(ValueError, match="modules: must be absolute paths"):
        check_candidate("stream { }\n", "/nonexistent/nginx", stream_modules=["/etc/nginx/a.conf;\nuser root"])


@pytest.mark.parametrize("streams, role_vars, field", [
    ([{"name": "s", "listen": 80, "servers": [{"address": "127.0.0.1:1"}]}], {},
     "load_balancer_streams[0].listen: tcp port 80 is already taken by load_balancer_listen"),
    ([{"name": "s", "listen": 9000, "protocol": "udp", "method": "least_conn", "servers": [{"address": "127.0.0.1:1"}]}],
     {}, "load_balancer_streams[0].method: least_conn compares active connections"),
    ([{"name": "s", "listen": 9000, "servers": [{"address": "127.0.0.1:1", "weight": 0}]}], {},
     "load_balancer_streams[0].servers[0].weight: must be 1-1000"),
    ([{"name": "s", "listen": 9000, "servers": [{"address": "127.0.0.1:1"}]}],
     {"load_balancer_manage_nginx_conf": False}, "needs load_balancer_manage_nginx_conf"),
    # The argument spec runs first, as in the role.
    ([{"name": "s", "listen": 9000, "protocol": "sctp", "servers": [{"address": "127.0.0.1:1"}]}], {},
     "load_balancer_streams"),
])
def test_bad_stream_input_fails_in_preflight_naming_the_field(tmp_path, streams, role_vars, field):
    proc, text = render_streams(tmp_path, streams, **role_vars)
    assert proc.returncode != 0 and text is None
    assert field in proc.stdout + proc.stderr
