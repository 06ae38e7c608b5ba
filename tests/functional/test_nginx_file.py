"""The one go-live path (_golive, the nginx_file module) against the host's
nginx -t on a private layout in tmp_path: every failure path leaves the live
file as it was (byte for byte) and no temporary file behind; the module runs
as Ansible runs it (a child process) for the success path, check mode and
diff. Nothing here reloads: a failed task stops the role before its handler."""

import os
from pathlib import Path

import pytest

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._golive import go_live, nginx_checks
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._nginx_check import _subprocess_runner

from helpers.localnet import NGINX, free_port, needs_nginx
from helpers.processes import run_module

pytestmark = needs_nginx

UPSTREAM = "upstream pool { zone pool 64k; server 127.0.0.1:7001; }\n" \
           "server { listen 127.0.0.1:%d; location /pool/ { proxy_pass http://pool; } }\n"
MODULES = ["/etc/nginx/modules-enabled/*.conf"]
STREAM_MODULE = Path("/usr/lib/nginx/modules/ngx_stream_module.so")
STREAM = "stream { upstream tcp { server 127.0.0.1:7001; } server { listen 127.0.0.1:%d; proxy_pass tcp; } }\n"


@pytest.fixture
def layout(tmp_path):
    """A live nginx.conf including conf.d/*.conf, and the live upstream.conf in it."""
    (tmp_path / "conf.d").mkdir()
    live = tmp_path / "conf.d" / "upstream.conf"
    live.write_text(UPSTREAM % free_port())
    os.chmod(live, 0o640)
    main = tmp_path / "nginx.conf"
    main.write_text("pid %s/nginx.pid;\nerror_log stderr;\nevents { }\nhttp {\n    include %s/conf.d/*.conf;\n}\n"
                    % (tmp_path, tmp_path))
    return {"main": main, "live": live, "dir": tmp_path / "conf.d"}


def put_live(layout, content, dest=None, **options):
    dest = str(dest or layout["live"])
    check_candidate, check_whole = nginx_checks(NGINX, _subprocess_runner, dest, str(layout["main"]))
    return go_live(dest, content.encode(), check_candidate, check_whole, **options)


def snapshot(directory):
    """{name: (bytes, mode)} of every file in `directory`."""
    return {name: ((directory / name).read_bytes(), os.stat(directory / name).st_mode)
            for name in sorted(os.listdir(directory))}


def test_a_candidate_nginx_refuses_leaves_the_live_file_untouched(layout):
    before = snapshot(layout["dir"])
    result, failure = put_live(layout, "upstream pool { server 127.0.0.1:7001 wieght=2; }\n")
    assert failure.startswith("the new %s was refused, nothing changed: nginx -t rejected" % layout["live"])
    assert 'invalid parameter "wieght=2"' in failure
    assert result["candidate"]["valid"] is False and result["whole"] is None and result["changed"] is False
    assert snapshot(layout["dir"]) == before


def test_a_whole_config_nginx_refuses_puts_the_previous_file_back_byte_identical(layout):
    # Valid alone, but another file of the live config has the same upstream.
    (layout["dir"] / "other.conf").write_text("upstream pool { server 127.0.0.1:7002; }\n")
    before = snapshot(layout["dir"])
    result, failure = put_live(layout, "upstream pool { server 127.0.0.1:7003; }\n")
    assert "the previous file is back: nginx -t rejected %s" % layout["main"] in failure
    assert 'duplicate upstream "pool"' in failure
    assert result["candidate"]["valid"] is True and result["whole"]["valid"] is False
    assert snapshot(layout["dir"]) == before


def test_a_whole_config_nginx_refuses_removes_a_new_file_that_had_no_predecessor(layout):
    before = snapshot(layout["dir"])
    result, failure = put_live(layout, "upstream pool { server 127.0.0.1:7003; }\n",
                               dest=layout["dir"] / "second.conf")
    assert "the previous file is back" in failure and 'duplicate upstream "pool"' in failure
    assert snapshot(layout["dir"]) == before


def test_a_good_file_goes_live_and_the_whole_config_was_checked_with_it(layout):
    new = UPSTREAM.replace("7001;", "7001; server 127.0.0.1:7002;") % free_port()
    result, failure = put_live(layout, new)
    assert failure is None and result["changed"] is True
    assert result["candidate"]["valid"] is True and result["whole"]["valid"] is True
    assert [s["address"] for s in result["whole"]["upstreams"][0]["servers"]] == ["127.0.0.1:7001", "127.0.0.1:7002"]
    assert layout["live"].read_text() == new and os.stat(layout["live"]).st_mode & 0o777 == 0o640
    assert sorted(os.listdir(layout["dir"])) == ["upstream.conf"]


def module_args(layout, content, **extra):
    return dict({"dest": str(layout["live"]), "content": content, "nginx_conf": str(layout["main"]),
                 "nginx_binary": NGINX}, **extra)


def test_the_module_installs_with_the_asked_mode_and_a_kept_backup_and_shows_the_diff(layout):
    previous = layout["live"].read_text()
    new = UPSTREAM % free_port()
    result = run_module("nginx_file", dict(module_args(layout, new, mode="0644", backup=True), _ansible_diff=True))
    assert result.get("failed") is not True, result
    assert result["changed"] is True and layout["live"].read_text() == new
    assert os.stat(layout["live"]).st_mode & 0o777 == 0o644
    assert open(result["backup_file"]).read() == previous
    assert result["diff"]["before"] == previous and result["diff"]["after"] == new
    again = run_module("nginx_file", module_args(layout, new, mode="0644"))
    assert again["changed"] is False and again.get("failed") is not True, again


def test_the_module_in_check_mode_checks_the_candidate_and_writes_nothing(layout):
    before = snapshot(layout["dir"])
    dry = run_module("nginx_file", dict(module_args(layout, UPSTREAM % free_port()), _ansible_check_mode=True))
    assert dry["changed"] is True and dry["candidate"]["valid"] is True and dry["whole"] is None
    assert dry["msg"].startswith("would install %s" % layout["live"])
    refused = run_module("nginx_file", dict(module_args(layout, "upstream pool { bogus; }\n"), _ansible_check_mode=True))
    assert refused["failed"] is True and "was refused, nothing changed" in refused["msg"]
    assert snapshot(layout["dir"]) == before


@pytest.mark.skipif(not STREAM_MODULE.exists(), reason="nginx's stream module is not installed on this machine")
def test_the_module_checks_a_stream_file_after_the_module_loaders(layout, tmp_path):
    stream = tmp_path / "stream.conf"
    args = dict(module_args(layout, STREAM % free_port(), kind="stream"), dest=str(stream))
    without = run_module("nginx_file", args)
    assert without["failed"] is True and 'unknown directive "stream"' in without["msg"] and not stream.exists()
    result = run_module("nginx_file", dict(args, modules=MODULES))
    assert result.get("failed") is not True and result["candidate"]["streams"][0]["upstream"]["name"] == "tcp", result
    assert stream.read_text() == args["content"]


def test_the_module_names_a_path_outside_the_allow_list_before_a_change(layout):
    before = snapshot(layout["dir"])
    for field, value in (("dest", "conf.d/relative.conf"), ("nginx_conf", "/etc/nginx/nginx.conf;")):
        bad = run_module("nginx_file", dict(module_args(layout, UPSTREAM % free_port()), **{field: value}))
        assert bad["failed"] is True and bad["msg"].startswith("%s: must be an absolute path" % field), bad
    assert snapshot(layout["dir"]) == before
