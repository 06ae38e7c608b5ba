"""The one check, on a config read back (nginx_validate's lint) and on role input."""

import pytest

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._check import check, lint
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model_config import model_from_config
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._model_vars import model_from_vars
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._nginx_conf import parse

from helpers.paths import SEED_UPSTREAM_CONF


def test_tutorial_config_lints_its_prefix_stripping():
    findings = lint(model_from_config(parse(SEED_UPSTREAM_CONF.read_text(), "upstream.conf")))
    stripping = [f for f in findings if f["severity"] == "warning" and "double slash" in f["message"]]
    assert sorted(f["subject"] for f in stripping) == ["/iphash", "/leastconn", "/proxy", "/roundrobin", "/weighted"]
    assert all(f["line"] for f in stripping)
    assert not [f for f in findings if f["severity"] == "error"]


@pytest.mark.parametrize("config, severity, words", [
    ("upstream a { server h:1; } server { location /x/ { proxy_pass http://b; } }", "error", "undefined upstream"),
    ("upstream a { server h:1 down; server h:2 backup; } server { location /x/ { proxy_pass http://a; } }",
     "error", "no usable server"),
    ("upstream a { server h:1; server h:1; } server { location /x/ { proxy_pass http://a; } }",
     "warning", "listed twice"),
    ("upstream a { server 127.0.0.1:1; server 127.0.0.1:01; } server { location /x/ { proxy_pass http://a; } }",
     "warning", "duplicate server 127.0.0.1:1"),
    ("upstream a { server h:1; server h:2 backup; ip_hash; } server { location /x/ { proxy_pass http://a; } }",
     "error", "backup"),
    ("upstream a { server h:1; server h:2; } server { location /x/ { proxy_pass http://a; } }",
     "info", "no zone"),
    ("upstream a { zone a 64k; server h:1; } upstream b { zone b 64k; server h:1; } "
     "server { location /x/ { proxy_pass http://a; } }", "info", "not used"),
    ("upstream a { server h:1 weight=0; } server { location /x/ { proxy_pass http://a; } }", "warning", "1-1000"),
])
def test_lint_findings(config, severity, words):
    findings = lint(model_from_config(parse(config, "t.conf")))
    assert any(f["severity"] == severity and words in f["message"] for f in findings), findings


def test_lint_clean_model_has_no_findings():
    config = ("upstream a { zone a 64k; server h:1 weight=2; server h:2; } "
              "server { location = /x { rewrite ^ / break; proxy_pass http://a; } "
              "location /x/ { rewrite ^/x(/.*)$ $1 break; proxy_pass http://a; } }")
    model = model_from_config(parse(config, "t.conf"))
    assert [(loc.path, loc.upstream, loc.strip_prefix) for loc in model.locations] == [("/x", "a", True)]
    assert lint(model) == []


def test_a_hand_written_config_may_proxy_to_hosts_and_sockets():
    config = ("upstream a { zone a 64k; server unix:/run/app.sock; server backend; } "
              "server { location /x/ { proxy_pass http://a; } location /y/ { proxy_pass http://$host; } }")
    assert lint(model_from_config(parse(config, "t.conf"))) == []


def test_role_input_and_config_are_judged_in_the_same_words():
    """The filter and nginx_validate's lint say the same thing of the same mistake."""
    upstreams = [{"name": "a", "method": "ip_hash", "servers": [{"address": "h:1"}, {"address": "h:2", "backup": True}]}]
    config = "upstream a { ip_hash; server h:1; server h:2 backup; }"
    from_config = [f for f in check(model_from_config(parse(config, "t.conf"))) if f.severity == "error"]
    assert len(from_config) == 1
    assert from_config[0].message.startswith("nginx does not allow backup with method ip_hash")
    with pytest.raises(ValueError) as caught:
        model_from_vars(upstreams, [])
    assert "load_balancer_upstreams[0].servers[1].backup: " + from_config[0].message in str(caught.value)
