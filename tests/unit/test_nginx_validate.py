"""nginx_validate: the target's nginx -t on a candidate or the live config, as data."""

import pytest

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._nginx_check import (
    _subprocess_runner,
    parse_messages,
)
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._validate import validate

from localnet import NGINX, needs_nginx
from paths import SEED_UPSTREAM_CONF, run_module


GOOD = "upstream a { zone a 64k; server 127.0.0.1:7001; server 127.0.0.1:7002; }\n" \
       "server { listen 127.0.0.1:18099; location /a/ { rewrite ^/a(/.*)$ $1 break; proxy_pass http://a; } }\n"


@pytest.mark.parametrize("line, expected", [
    ('nginx: [emerg] unknown directive "foo" in /etc/nginx/conf.d/x.conf:3',
     {"level": "emerg", "message": 'unknown directive "foo"', "file": "/etc/nginx/conf.d/x.conf", "line": 3}),
    ('2026/11/25 05:25:13 [emerg] 13408#13408: host not found in upstream "nope.invalid:80" in /tmp/c.conf:1',
     {"level": "emerg", "message": 'host not found in upstream "nope.invalid:80"', "file": "/tmp/c.conf", "line": 1}),
    ('nginx: [warn] conflicting server name "_" on 0.0.0.0:80, ignored',
     {"level": "warn", "message": 'conflicting server name "_" on 0.0.0.0:80, ignored', "file": None, "line": None}),
    ("nginx: configuration file /etc/nginx/nginx.conf test is successful", None),
])
def test_parse_messages(line, expected):
    assert parse_messages(line) == ([expected] if expected else [])


@needs_nginx
def test_valid_candidate_reports_model_and_no_errors():
    report = validate(NGINX, _subprocess_runner, content=GOOD, shown_name="/etc/nginx/conf.d/upstream.conf")
    assert report.valid is True and report.errors == []
    assert report.failure("warning") is None
    result = report.as_result()
    assert [(u["name"], [s["address"] for s in u["servers"]]) for u in result["upstreams"]] == \
        [("a", ["127.0.0.1:7001", "127.0.0.1:7002"])]
    assert [(loc["path"], loc["upstream"]) for loc in result["locations"]] == [("/a/", "a")]
    assert report.nginx_version and report.nginx_version[0].isdigit()


@needs_nginx
@pytest.mark.parametrize("candidate, words, line", [
    ("upstream a { server app.invalid:7001; }\n", 'host not found in upstream "app.invalid:7001"', 1),
    ("upstream a {\n  server 127.0.0.1:7001 weight=0;\n}\n", 'invalid parameter "weight=0"', 2),
    ("upstream a { server 127.0.0.1:7001; }\nserver { listen 127.0.0.1:18099; bogus_directive on; }\n",
     'unknown directive "bogus_directive"', 2),
    ("upstream a { server 127.0.0.1:7001; \n", "unexpected end of file", 2),
])
def test_rejected_candidate_fails_with_nginx_words_and_place(candidate, words, line):
    report = validate(NGINX, _subprocess_runner, content=candidate, shown_name="upstream.conf")
    assert report.valid is False
    assert report.errors[0]["file"] == "upstream.conf" and report.errors[0]["line"] == line
    assert words in report.errors[0]["message"]
    assert report.failure("error").startswith("nginx -t rejected upstream.conf: upstream.conf:%d: " % line)
    assert report.failure("never") is None


@needs_nginx
def test_tutorial_config_passes_nginx_but_lint_warns():
    report = validate(NGINX, _subprocess_runner, content=SEED_UPSTREAM_CONF.read_text().replace("listen 80", "listen 127.0.0.1:18099"),
                      shown_name="upstream.conf")
    assert report.valid is True
    assert report.failure("error") is None
    assert "double slash" in report.failure("warning")


@needs_nginx
def test_live_config_mode_follows_includes(tmp_path):
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "lb.conf").write_text(GOOD)
    main = tmp_path / "nginx.conf"
    main.write_text("pid %s/nginx.pid;\nerror_log stderr;\nevents { }\nhttp {\n  include %s/conf.d/*.conf;\n}\n"
                    % (tmp_path, tmp_path))
    report = validate(NGINX, _subprocess_runner, path=str(main))
    assert report.valid is True
    assert [u.name for u in report.model.upstreams] == ["a"]


@needs_nginx
def test_module_fails_on_a_broken_candidate_and_passes_a_good_one():
    bad = run_module("nginx_validate", {"content": "upstream a { server 127.0.0.1:7001 wieght=2; }\n", "name": "/etc/nginx/conf.d/u.conf"})
    assert bad["failed"] is True and bad["valid"] is False
    assert bad["msg"] == 'nginx -t rejected /etc/nginx/conf.d/u.conf: /etc/nginx/conf.d/u.conf:1: invalid parameter "wieght=2"'
    good = run_module("nginx_validate", {"content": GOOD})
    assert good.get("failed") is not True and good["valid"] is True and good["changed"] is False
