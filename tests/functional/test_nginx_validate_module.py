"""nginx_validate: the host's own nginx -t on a candidate or the live config, as data;
the modules run as Ansible runs them (a child process each)."""

import json
import os
import time

import pytest

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._nginx_check import _subprocess_runner
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._validate import validate

from helpers.localnet import NGINX, free_port, needs_nginx
from helpers.paths import SEED_UPSTREAM_CONF
from helpers.processes import run_module


GOOD = "upstream a { zone a 64k; server 127.0.0.1:7001; server 127.0.0.1:7002; }\n" \
       "server { listen 127.0.0.1:18099; location /a/ { rewrite ^/a(/.*)$ $1 break; proxy_pass http://a; } }\n"


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


# Issue 10, finding 6: a Latin-1 byte in an included file (or in what nginx -t
# echoes) must not crash either module; what they return is text.

LATIN1_COMMENT = b"# caf\xe9: written by a Latin-1 editor\n"


def _live_config(tmp_path, conf_d):
    """A main config in tmp_path whose http context includes conf.d/*.conf;
    `conf_d` maps file names (bytes allowed) to their bytes."""
    (tmp_path / "conf.d").mkdir()
    for name, data in conf_d.items():
        (tmp_path / "conf.d" / os.fsdecode(name)).write_bytes(data)
    main = tmp_path / "nginx.conf"
    main.write_text("pid %s/nginx.pid;\nerror_log stderr;\nevents { }\nhttp {\n  include %s/conf.d/*.conf;\n}\n"
                    % (tmp_path, tmp_path))
    return str(main)


def _all_text(value):
    """json.dumps(ensure_ascii=False) + encode: fails on a surrogate-escaped byte."""
    json.dumps(value, ensure_ascii=False).encode("utf-8")
    return True


@needs_nginx
def test_live_config_with_a_latin1_include_is_valid(tmp_path):
    main = _live_config(tmp_path, {"lb.conf": LATIN1_COMMENT + GOOD.encode()})
    report = validate(NGINX, _subprocess_runner, path=main)
    assert report.valid is True and report.failure("error") is None
    assert [u.name for u in report.model.upstreams] == ["a"]


@needs_nginx
def test_module_passes_a_live_config_with_a_latin1_include(tmp_path):
    main = _live_config(tmp_path, {"lb.conf": LATIN1_COMMENT + GOOD.encode()})
    result = run_module("nginx_validate", {"path": main})
    assert result.get("failed") is not True, result.get("msg")
    assert result["valid"] is True and [u["name"] for u in result["upstreams"]] == ["a"]


@needs_nginx
def test_module_reports_nginx_words_holding_latin1_bytes_as_text(tmp_path):
    """nginx -t echoes the directive and the file name, bytes as they are."""
    main = _live_config(tmp_path, {b"caf\xe9.conf": LATIN1_COMMENT + b"caf\xe9_directive on;\n"})
    direct = validate(NGINX, _subprocess_runner, path=main)
    assert direct.valid is False and _all_text(direct.as_result()) and _all_text(direct.failure("error"))
    result = run_module("nginx_validate", {"path": main})
    assert result["failed"] is True and result["valid"] is False
    error = result["errors"][0]
    assert error["message"] == 'unknown directive "caf\\xe9_directive"'
    assert error["file"] == "%s/conf.d/caf\\xe9.conf" % tmp_path and error["line"] == 2
    assert 'caf\\xe9.conf:2: unknown directive "caf\\xe9_directive"' in result["msg"]


@needs_nginx
def test_module_checks_a_latin1_src_candidate(tmp_path):
    src = tmp_path / "upstream.conf"
    src.write_bytes(LATIN1_COMMENT + GOOD.encode() + b"# fin \xff\n")
    result = run_module("nginx_validate", {"src": str(src)})
    assert result.get("failed") is not True, result.get("msg")
    assert result["valid"] is True and [loc["path"] for loc in result["locations"]] == ["/a/"]


@needs_nginx
def test_module_reports_a_directory_in_an_include_glob(tmp_path):
    main = _live_config(tmp_path, {"lb.conf": GOOD.encode()})
    (tmp_path / "conf.d" / "old.conf").mkdir()
    result = run_module("nginx_validate", {"path": main})
    assert result["failed"] is True and result["valid"] is False
    assert "old.conf" in result["msg"], result["msg"]


def test_nginx_output_with_latin1_bytes_is_decoded_leniently(tmp_path):
    script = tmp_path / "fake-nginx"
    script.write_bytes(b"#!/bin/sh\nprintf 'nginx: [emerg] unknown directive \"caf\\351\" in /x/caf\\351.conf:3\\n' >&2\nexit 1\n")
    script.chmod(0o755)
    rc, out, err = _subprocess_runner([str(script), "-t"])
    assert rc == 1 and err == 'nginx: [emerg] unknown directive "caf\\xe9" in /x/caf\\xe9.conf:3\n'
    # A runner that hands back surrogate-escaped text: tests/unit/plugins/module_utils/test__nginx_check.py


def test_lb_verify_reads_locations_from_a_config_with_a_latin1_include(tmp_path):
    main = _live_config(tmp_path, {"lb.conf": LATIN1_COMMENT + GOOD.encode()})
    # Nothing listens there: the locations are read, then every request fails.
    result = run_module("lb_verify", {"config_path": main, "url": "http://127.0.0.1:%d" % free_port(),
                                      "requests": 2, "timeout": 1, "deadline": 5})
    assert [loc["path"] for loc in result["locations"]] == ["/a/"]
    assert result["failed"] is True and result["passed"] is False


def test_lb_verify_names_an_include_loop(tmp_path):
    main = tmp_path / "nginx.conf"
    main.write_text("http { include nginx.conf; }\n")
    result = run_module("lb_verify", {"config_path": str(main)})
    assert result["failed"] is True and "include loop" in result["msg"]


@needs_nginx
def test_module_names_an_include_loop_that_nginx_dies_of(tmp_path):
    main = _live_config(tmp_path, {"a.conf": ("include %s/conf.d/a.conf;\n" % tmp_path).encode()})
    result = run_module("nginx_validate", {"path": main})
    assert result["failed"] is True and result["valid"] is False
    assert "include loop" in result["msg"], result["msg"]


@needs_nginx
@pytest.mark.parametrize("missing", ["nope", "nope/deeper"])
def test_module_names_the_missing_directory_of_a_main_candidate(tmp_path, missing):
    path = tmp_path / missing / "nginx.conf"
    result = run_module("nginx_validate", {"content": "events { }\n", "kind": "main", "path": str(path)}, timeout=30)
    assert result["failed"] is True
    assert result["msg"] == "path: the directory %s does not exist (a main candidate is tested beside %s)" % (
        path.parent, path)
    assert not (tmp_path / "nope").exists()


@needs_nginx
@pytest.mark.parametrize("field", ["src", "path"])
def test_module_refuses_a_fifo_to_read_instead_of_blocking(tmp_path, field):
    fifo = tmp_path / "upstream.conf"
    os.mkfifo(str(fifo))
    started = time.monotonic()
    result = run_module("nginx_validate", {field: str(fifo)}, timeout=30)
    assert result["failed"] is True
    assert result["msg"] == "%s: %s is a FIFO, not a regular file" % (field, fifo)
    assert time.monotonic() - started < 10


@needs_nginx
def test_module_kills_an_nginx_that_blocks_past_the_deadline(tmp_path):
    """An include of a FIFO blocks nginx -t itself: the deadline ends it."""
    fifo = tmp_path / "extra.conf"
    os.mkfifo(str(fifo))
    started = time.monotonic()
    result = run_module("nginx_validate", {"content": "include %s;\n" % fifo, "deadline": 2}, timeout=30)
    assert result["failed"] is True
    assert result["msg"] == "deadline: %s did not finish within 2 s and was killed" % NGINX
    assert time.monotonic() - started < 10
