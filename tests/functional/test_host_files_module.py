"""host_files as Ansible runs it (a child process, JSON arguments): the
argument spec's types and defaults reach the logic, check and diff mode are
honoured, content never comes back, a refused entry changes nothing and a
failure on the host names what was applied before it."""

import json
import os
import stat

import pytest

from helpers.processes import run_module


def entries(root):
    return [
        {"path": str(root / "releases/2"), "state": "directory", "mode": "0755"},
        {"path": str(root / "releases/2/release.json"), "content": '{\n  "version": "2"\n}\n', "mode": "0644"},
        {"path": str(root / "current"), "src": "releases/2"},
    ]


def test_check_then_apply_then_nothing_to_do(tmp_path):
    args = {"files": entries(tmp_path), "absent": [str(tmp_path / "app_server.py")]}
    (tmp_path / "app_server.py").write_text("old layout")
    dry = run_module("host_files", dict(args, _ansible_check_mode=True, _ansible_diff=True))
    assert dry["changed"] is True and not (tmp_path / "releases").exists()
    assert dry["changed_paths"] == [e["path"] for e in args["files"]] + [str(tmp_path / "app_server.py")]
    assert any(d.get("prepared", "").endswith('\n+{\n+  "version": "2"\n+}\n') for d in dry["diff"])
    real = run_module("host_files", args)
    assert real["changed_paths"] == dry["changed_paths"]
    assert os.readlink(tmp_path / "current") == "releases/2" and not (tmp_path / "app_server.py").exists()
    again = run_module("host_files", args)
    assert again["changed"] is False and "diff" not in again


def test_a_yaml_number_as_mode_is_refused_before_any_change(tmp_path):
    files = entries(tmp_path)
    files[1]["mode"] = 420  # what YAML makes of an unquoted 0644
    result = run_module("host_files", {"files": files})
    assert result["failed"] is True
    assert "files[1].mode: an octal mode as a quoted string" in result["msg"]
    assert not (tmp_path / "releases").exists()


def test_backup_file_names_the_previous_content(tmp_path):
    conf = tmp_path / "upstream.conf"
    conf.write_text("upstream a { server 127.0.0.1:7001; }\n")
    new = "upstream a { server 127.0.0.1:7002; }\n"
    result = run_module("host_files", {"files": [{"path": str(conf), "content": new, "backup": True}]})
    backup = result["results"][0]["backup_file"]
    assert open(backup).read() == "upstream a { server 127.0.0.1:7001; }\n"
    assert conf.read_text().endswith("7002; }\n")


@pytest.mark.parametrize("field", ["owner", "group"])
@pytest.mark.parametrize("value", ["9999999999", "4294967295", 4294967296])
def test_a_numeric_id_chown_cannot_take_fails_naming_it_before_any_change(tmp_path, field, value):
    files = entries(tmp_path)
    files[1][field] = value
    result = run_module("host_files", {"files": files}, timeout=30)
    assert result["failed"] is True
    assert result["msg"] == "files[1].%s: a numeric id must be 0-4294967294, got %s" % (field, value)
    assert not (tmp_path / "releases").exists()


@pytest.mark.parametrize("check_mode", [False, True])
def test_copy_from_a_fifo_fails_naming_it_instead_of_blocking(tmp_path, check_mode):
    source = tmp_path / "selfsigned.crt"
    os.mkfifo(str(source))
    # Content is no_log: Ansible would mask a one-letter content wherever the letter appears.
    files = [{"path": str(tmp_path / "first"), "content": "first file\n"},
             {"path": str(tmp_path / "site.crt"), "copy_from": str(source)}]
    result = run_module("host_files", {"files": files, "_ansible_check_mode": check_mode}, timeout=30)
    assert result["failed"] is True
    assert result["msg"] == "%s: copy_from: %s is a FIFO, not a regular file" % (tmp_path / "site.crt", source)
    assert not (tmp_path / "first").exists()


@pytest.mark.parametrize("entry", [{"content": "port = 7001\n"}, {"src": "releases/2"}])
def test_a_missing_directory_is_named_before_any_change(tmp_path, entry):
    files = entries(tmp_path) + [dict(entry, path=str(tmp_path / "missing/current"))]
    result = run_module("host_files", {"files": files}, timeout=30)
    assert result["msg"] == "%s: the directory %s does not exist (list it first with state directory)" % (
        tmp_path / "missing/current", tmp_path / "missing")
    assert not (tmp_path / "releases").exists()


def test_a_path_that_stands_for_no_byte_fails_naming_it_before_any_change(tmp_path):
    files = entries(tmp_path) + [{"path": str(tmp_path / "current\ud800"), "src": "releases/2"}]
    result = run_module("host_files", {"files": files}, timeout=30)
    assert result["msg"] == "files[3].path: '\\ud800' at %d stands for no byte (a lone surrogate)" % (
        len(str(tmp_path)) + len("/current"))
    assert not (tmp_path / "releases").exists()


def test_content_never_comes_back_in_the_invocation(tmp_path):
    program = "".join("line %d of the program\n" % number for number in range(595))
    files = [{"path": str(tmp_path / "app_server.py"), "content": program, "mode": "0755"}]
    result = run_module("host_files", {"files": files, "_ansible_diff": True})
    assert result["changed_paths"] == [files[0]["path"]]
    assert result["invocation"]["module_args"]["files"][0]["content"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    assert "line 7 of the program" not in json.dumps(result["invocation"])
    assert (tmp_path / "app_server.py").read_text() == program


def test_missing_parents_get_the_owner_and_mode_asked(tmp_path):
    release = tmp_path / "opt/app/releases/2"
    result = run_module("host_files", {"files": [
        {"path": str(release), "state": "directory", "owner": "0", "group": "0", "mode": "0750"},
        {"path": str(release / "launch.py"), "content": "print(2)\n", "mode": "0644"}]})
    assert result["changed_paths"] == [str(release), str(release / "launch.py")]
    for path in (tmp_path / "opt", tmp_path / "opt/app", tmp_path / "opt/app/releases", release):
        info = os.stat(path)
        assert (stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid) == (0o750, 0, 0)


def test_a_failure_on_the_host_names_the_entries_already_applied(tmp_path):
    (tmp_path / "current").mkdir()
    files = entries(tmp_path)
    result = run_module("host_files", {"files": files}, timeout=30)
    assert result["failed"] is True and result["changed"] is True
    assert result["msg"] == "%s: is a directory, a link was asked for" % (tmp_path / "current")
    assert result["changed_paths"] == [files[0]["path"], files[1]["path"]]
    assert [entry["path"] for entry in result["results"]] == [files[0]["path"], files[1]["path"]]
    assert (tmp_path / "releases/2/release.json").exists()
