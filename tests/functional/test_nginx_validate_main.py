"""nginx_validate kind=main: a whole nginx.conf candidate checked with the
host's nginx -t beside the live file (relative includes resolve as they will
live), the live file untouched, no temporary file left behind."""

import os

import pytest

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._nginx_check import _subprocess_runner
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._validate import validate

from helpers.localnet import NGINX, free_port, needs_nginx
from helpers.processes import run_module

UPSTREAM = "upstream a { zone a 64k; server 127.0.0.1:7001; server 127.0.0.1:7002; }\n" \
           "server { listen 127.0.0.1:%d; location /a/ { rewrite ^/a(/.*)$ $1 break; proxy_pass http://a; } }\n"


def _layout(tmp_path):
    """A live nginx.conf in tmp_path that includes conf.d/*.conf by a RELATIVE path."""
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "upstream.conf").write_text(UPSTREAM % free_port())
    live = tmp_path / "nginx.conf"
    live.write_text("# the live file\n")
    return live


def _main(tmp_path, worker_connections=20480, rlimit=40960, extra=""):
    return ("pid %s/nginx.pid;\nerror_log stderr;\nworker_rlimit_nofile %d;\n%s"
            "events { worker_connections %d; }\nhttp {\n    server_tokens off;\n    include conf.d/*.conf;\n}\n"
            % (tmp_path, rlimit, extra, worker_connections))


def _leftovers(tmp_path):
    return sorted(name for name in os.listdir(tmp_path) if name.startswith(".nginx_validate_"))


@needs_nginx
def test_a_good_main_candidate_passes_and_its_includes_are_read(tmp_path):
    live = _layout(tmp_path)
    report = validate(NGINX, _subprocess_runner, path=str(live), content=_main(tmp_path), kind="main",
                      shown_name=str(live))
    assert report.valid is True, report.errors
    # The relative include resolved beside the live file: the upstream is seen.
    assert [u.name for u in report.model.upstreams] == ["a"]
    assert [loc.path for loc in report.model.locations] == ["/a/"]
    assert live.read_text() == "# the live file\n"
    assert _leftovers(tmp_path) == []


@needs_nginx
@pytest.mark.parametrize("extra, words, line", [
    ("worker_shutdown_timeout soon;\n", '"worker_shutdown_timeout" directive invalid value', 4),
    ("bogus_main_directive on;\n", 'unknown directive "bogus_main_directive"', 4),
])
def test_a_rejected_main_candidate_names_the_live_path_and_line(tmp_path, extra, words, line):
    live = _layout(tmp_path)
    report = validate(NGINX, _subprocess_runner, path=str(live), content=_main(tmp_path, extra=extra), kind="main",
                      shown_name=str(live))
    assert report.valid is False
    assert report.errors[0]["file"] == str(live) and report.errors[0]["line"] == line
    assert words in report.errors[0]["message"]
    assert report.failure("error").startswith("nginx -t rejected %s: %s:%d: " % (live, live, line))
    assert live.read_text() == "# the live file\n"
    assert _leftovers(tmp_path) == []


@needs_nginx
def test_a_snippet_is_not_a_main_config(tmp_path):
    """kind=main really runs the candidate as the main file: an upstream at
    main level is refused (kind=conf.d would have wrapped it in http{})."""
    live = _layout(tmp_path)
    report = validate(NGINX, _subprocess_runner, path=str(live), content=UPSTREAM % free_port(), kind="main",
                      shown_name="nginx.conf")
    assert report.valid is False
    assert '"upstream" directive is not allowed here' in report.errors[0]["message"]


@needs_nginx
def test_the_module_takes_kind_main(tmp_path):
    live = _layout(tmp_path)
    good = run_module("nginx_validate", {"content": _main(tmp_path), "kind": "main", "path": str(live),
                                         "name": str(live)})
    assert good.get("failed") is not True, good.get("msg")
    assert good["valid"] is True and [u["name"] for u in good["upstreams"]] == ["a"]
    assert good["nginx_version"]
    bad = run_module("nginx_validate", {"content": _main(tmp_path, extra="bogus_main_directive on;\n"),
                                        "kind": "main", "path": str(live), "name": str(live)})
    assert bad["failed"] is True and "bogus_main_directive" in bad["msg"] and str(live) in bad["msg"]
    assert _leftovers(tmp_path) == []
