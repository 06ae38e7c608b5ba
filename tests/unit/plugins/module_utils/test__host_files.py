"""plugins/module_utils/_host_files.py: many paths in one module run."""

import os
import re
import stat

import pytest
from ansible.module_utils.basic import AnsibleModule

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._host_files import (
    CONTENT_MAX_BYTES, PartlyApplied, apply, as_result, parse_entries)

from helpers.ansible_compat import patch_module_args
from helpers.not_regular import NOT_REGULAR, fail_after

UID, GID = str(os.getuid()), str(os.getgid())


def module(check_mode=False):
    """A real AnsibleModule (its file primitives are what apply uses), minus
    lsattr: reading file attributes starts it, which this tier refuses
    (ansible-core >= 2.19 ignores the refusal, older ones fail the module)."""
    with patch_module_args({"_ansible_check_mode": check_mode}):
        real = AnsibleModule(argument_spec={}, supports_check_mode=True)
    real.get_file_attributes = lambda path, include_version=True: {}
    return real


def run(entries, check_mode=False, diff=False, absent=()):
    return as_result(apply(parse_entries(entries, absent), module(check_mode)), with_diff=diff)


@pytest.mark.parametrize("entries, message", [
    ([], "files: a non-empty list is required (or paths in absent)"),
    ([{"path": "relative/x", "content": "a"}], "files[0].path: must be an absolute path"),
    ([{"path": "/", "state": "directory"}], "files[0].path: must be an absolute path below /"),
    ([{"path": "/etc/../x", "content": "a"}], "files[0].path: no '..' component"),
    ([{"path": "/tmp/a\nb", "content": "a"}], "files[0].path: no NUL byte or newline"),
    ([{"path": "/tmp/x"}], "files[0].state: one of file, directory, link, absent"),
    ([{"path": "/tmp/x", "content": "a", "copy_from": "/tmp/y"}], "files[0].content: a file takes one of"),
    ([{"path": "/tmp/x", "state": "directory", "content": "a"}], "files[0].content: only a file takes"),
    ([{"path": "/tmp/x", "state": "link"}], "files[0].src: a link needs a target"),
    ([{"path": "/tmp/x", "content": "a", "mode": 644}], "files[0].mode: an octal mode as a quoted string"),
    ([{"path": "/tmp/x", "content": "a", "mode": "u+rwx"}], "files[0].mode: an octal mode"),
    ([{"path": "/tmp/x", "state": "absent", "mode": "0644"}], "files[0].mode: not with state absent"),
    ([{"path": "/tmp/x", "content": "a", "owner": "root; rm -rf /"}], "files[0].owner: a user or group name"),
    ([{"path": "/tmp/x", "content": "a", "group": "Root"}], "files[0].group: a user or group name"),
    ([{"path": "/tmp/x", "content": "a", "force": "no"}], "files[0].force: true or false"),
    ([{"path": "/tmp/x", "content": "a", "backup": 1}], "files[0].backup: true or false"),
    ([{"path": "/tmp/x", "content": "a", "colour": "red"}], "files[0].colour: unknown option"),
    ([{"path": "/tmp/x", "content": "a"}, {"path": "/tmp/x/", "state": "absent"}],
     "files[1].path: /tmp/x is listed twice (also files[0])"),
    ([{"path": "/tmp/x", "content": "a" * (CONTENT_MAX_BYTES + 1)}], "use the copy module"),
])
def test_bad_entries_are_refused_naming_the_field(entries, message):
    with pytest.raises(ValueError) as caught:
        parse_entries(entries)
    assert message in str(caught.value)


def test_creates_then_leaves_alone(tmp_path):
    entries = [
        {"path": str(tmp_path / "releases/1"), "state": "directory", "owner": UID, "group": GID, "mode": "0750"},
        {"path": str(tmp_path / "releases/1/launch.py"), "content": "print(1)\n", "mode": "0640"},
        {"path": str(tmp_path / "current"), "src": "releases/1"},
        {"path": str(tmp_path / "old.py"), "state": "absent"},
    ]
    (tmp_path / "old.py").write_text("old")
    first = run(entries)
    assert first["changed"] is True
    assert first["changed_paths"] == [e["path"] for e in entries]
    assert stat.S_IMODE(os.stat(tmp_path / "releases/1").st_mode) == 0o750
    assert (tmp_path / "releases/1/launch.py").read_text() == "print(1)\n"
    assert stat.S_IMODE(os.stat(tmp_path / "releases/1/launch.py").st_mode) == 0o640
    assert os.readlink(tmp_path / "current") == "releases/1"
    assert not (tmp_path / "old.py").exists()
    again = run(entries)
    assert again["changed"] is False and again["changed_paths"] == []


@pytest.mark.parametrize("drift, change", [
    (lambda p: p.write_text("edited\n"), "content"),
    (lambda p: os.chmod(p, 0o600), "mode"),
])
def test_drift_is_put_right(tmp_path, drift, change):
    target = tmp_path / "unit.service"
    entries = [{"path": str(target), "content": "[Unit]\n", "mode": "0644"}]
    run(entries)
    drift(target)
    result = run(entries)
    assert result["results"][0]["changes"] == [change]
    assert target.read_text() == "[Unit]\n" and stat.S_IMODE(os.stat(target).st_mode) == 0o644


def test_check_mode_changes_nothing_and_says_what_would(tmp_path):
    target = tmp_path / "new" / "file.txt"
    entries = [{"path": str(tmp_path / "new"), "state": "directory"},
               {"path": str(target), "content": "hello\n"},
               {"path": str(tmp_path / "link"), "src": "new"}]
    result = run(entries, check_mode=True, diff=True)
    assert result["changed_paths"] == [e["path"] for e in entries]
    assert not (tmp_path / "new").exists() and not (tmp_path / "link").exists()
    assert {"prepared": "--- before: %s\n+++ after: %s\n@@ -0,0 +1 @@\n+hello\n" % (target, target)} \
        in result["diff"]


def test_link_is_retargeted(tmp_path):
    (tmp_path / "current").symlink_to("releases/1")
    result = run([{"path": str(tmp_path / "current"), "src": "releases/2"}])
    assert result["results"][0]["changes"] == ["target"]
    assert os.readlink(tmp_path / "current") == "releases/2"


def test_copy_from_and_force_false(tmp_path):
    source = tmp_path / "selfsigned.crt"
    source.write_text("CERT\n")
    served = tmp_path / "site.crt"
    entries = [{"path": str(served), "copy_from": str(source), "force": False, "mode": "0644"}]
    assert run(entries)["changed"] is True and served.read_text() == "CERT\n"
    served.write_text("ISSUED\n")
    os.chmod(served, 0o600)
    result = run(entries)
    # force false keeps an issued certificate, but its mode is still set.
    assert result["results"][0]["changes"] == ["mode"] and served.read_text() == "ISSUED\n"


def test_refusals_on_the_host_come_before_the_first_change(tmp_path):
    first = tmp_path / "first.txt"
    entries = [{"path": str(first), "content": "a"},
               {"path": str(tmp_path / "second.txt"), "content": "b", "owner": "no-such-user-edgeops"}]
    with pytest.raises(ValueError, match="no such user 'no-such-user-edgeops'"):
        run(entries)
    assert not first.exists()
    missing = [{"path": str(first), "content": "a"},
               {"path": str(tmp_path / "copy"), "copy_from": str(tmp_path / "nowhere")}]
    with pytest.raises(ValueError, match="copy_from .*nowhere does not exist on the host"):
        run(missing)
    assert not first.exists()


def test_unknown_owner_in_check_mode_is_a_change(tmp_path):
    target = tmp_path / "x"
    target.write_text("a")
    result = run([{"path": str(target), "content": "a", "owner": "no-such-user-edgeops"}], check_mode=True)
    assert result["results"][0]["changes"] == ["owner"]


@pytest.mark.parametrize("existing, state, message", [
    ("dir", "file", "is a directory, a file was asked for"),
    ("file", "directory", "exists and is not a directory"),
    ("dir", "link", "is a directory, a link was asked for"),
])
def test_wrong_kind_of_path_fails_naming_the_entries_already_applied(tmp_path, existing, state, message):
    path = tmp_path / "p"
    if existing == "dir":
        path.mkdir()
    else:
        path.write_text("x")
    entry = {"path": str(path), "state": state}
    entry.update({"file": {"content": "a"}, "link": {"src": "t"}, "directory": {}}[state])
    applied = [{"path": str(tmp_path / "first.txt"), "content": "a\n"}, {"path": str(tmp_path / "link"), "src": "t"}]
    with pytest.raises(PartlyApplied) as caught:
        run(applied + [entry])
    assert str(caught.value) == "%s: %s" % (path, message)
    # What was applied before the failure stays applied, and is named.
    assert as_result(caught.value.applied)["changed_paths"] == [item["path"] for item in applied]
    assert (tmp_path / "first.txt").read_text() == "a\n"


def test_absent_removes_a_directory_tree(tmp_path):
    (tmp_path / "releases/1").mkdir(parents=True)
    (tmp_path / "releases/1/app.py").write_text("x")
    result = run([{"path": str(tmp_path / "releases"), "state": "absent"}])
    assert result["changed"] and not (tmp_path / "releases").exists()


@pytest.mark.parametrize("entry", [
    {"content": "x"},
    {"copy_from": "/etc/hostname"},
    {"state": "file"},
    {"src": "elsewhere"},
])
@pytest.mark.parametrize("missing", ["nope", "nope/deeper"])
def test_a_missing_directory_is_named_before_the_first_change(tmp_path, entry, missing):
    first = tmp_path / "first.txt"
    path = tmp_path / missing / "file"
    with pytest.raises(ValueError, match=r"\A%s: the directory %s does not exist .list it first"
                       % (re.escape(str(path)), re.escape(str(path.parent)))):
        run([{"path": str(first), "content": "a"}, dict(entry, path=str(path))])
    assert not first.exists()


@pytest.mark.parametrize("directory, entry", [
    ("nope/deeper", {"content": "x"}),
    ("nope/deeper", {"src": "elsewhere"}),
    ("nope/deeper/sub", {"content": "x"}),  # its missing parents are created with it
    ("nope/deeper/sub", {"src": "sub"}),
])
def test_a_directory_listed_earlier_counts_as_there(tmp_path, directory, entry):
    path = tmp_path / "nope/deeper/file"
    result = run([{"path": str(tmp_path / directory), "state": "directory"}, dict(entry, path=str(path))])
    assert result["changed_paths"] == [str(tmp_path / directory), str(path)] and os.path.lexists(path)


@pytest.mark.parametrize("field", ["owner", "group"])
@pytest.mark.parametrize("value, words", [
    ("9999999999", "a numeric id must be 0-4294967294, got 9999999999"),
    ("4294967295", "a numeric id must be 0-4294967294, got 4294967295"),
    ("4294967296", "a numeric id must be 0-4294967294, got 4294967296"),
    (4294967295, "a numeric id must be 0-4294967294, got 4294967295"),
    ("-1", "a user or group name"),
    ("root\n", "a user or group name"),
    ("0\n", "a user or group name"),
    (" root", "a user or group name"),
    (True, "a user or group name"),
])
def test_an_owner_or_group_chown_cannot_take_is_refused(field, value, words):
    with pytest.raises(ValueError, match=r"\Afiles\[1\]\.%s: %s" % (field, re.escape(words))):
        parse_entries([{"path": "/tmp/a", "content": "a"}, {"path": "/tmp/b", "content": "b", field: value}])


@pytest.mark.parametrize("value", ["0", "4294967294", "65534", "app-server", "_apt", "machine$"])
def test_an_owner_or_group_in_range_is_taken(value):
    entry = parse_entries([{"path": "/tmp/a", "content": "a", "owner": value, "group": value}])[0]
    assert (entry.owner, entry.group) == (value, value)


@pytest.mark.parametrize("mode", ["0644\n", "644\n", "\n0644", "0o644", "006444", "+0644"])
def test_a_mode_with_anything_around_it_is_refused(mode):
    with pytest.raises(ValueError, match=r"\Afiles\[0\]\.mode: an octal mode"):
        parse_entries([{"path": "/tmp/a", "content": "a", "mode": mode}])


@pytest.mark.parametrize("check_mode", [False, True])
@pytest.mark.parametrize("make, kind", NOT_REGULAR)
def test_copy_from_what_is_not_a_regular_file_is_refused_without_blocking(tmp_path, make, kind, check_mode):
    first, source = tmp_path / "first.txt", tmp_path / "source"
    make(source)
    words = r"copy_from: %s is %s, not a regular file" % (re.escape(str(source)), kind)
    with fail_after(5), pytest.raises(ValueError, match=words):
        run([{"path": str(first), "content": "a"}, {"path": str(tmp_path / "copy"), "copy_from": str(source)}],
            check_mode=check_mode)
    assert not first.exists()


def test_a_file_without_content_gets_only_its_attributes(tmp_path):
    key = tmp_path / "selfsigned.key"
    key.write_text("KEY\n")
    os.chmod(key, 0o644)
    entries = [{"path": str(key), "state": "file", "mode": "0600"}]
    result = run(entries)
    assert result["results"][0]["changes"] == ["mode"] and key.read_text() == "KEY\n"
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    key.unlink()
    with pytest.raises(ValueError, match="no such file"):
        run(entries)
    assert run(entries, check_mode=True)["changed_paths"] == [str(key)]


def test_a_private_file_never_shows_in_a_diff(tmp_path):
    result = run([{"path": str(tmp_path / "private.key"), "content": "SECRET\n", "mode": "0600"},
                  {"path": str(tmp_path / "public.crt"), "content": "CERT\n", "mode": "0644"}], diff=True)
    assert "SECRET" not in repr(result["diff"]) and "CERT" in repr(result["diff"])


def test_absent_paths_are_removed_after_the_files(tmp_path):
    (tmp_path / "default").write_text("server {}")
    result = run([{"path": str(tmp_path / "site.conf"), "content": "x"}],
                 absent=[str(tmp_path / "default"), str(tmp_path / "never-there")])
    assert result["changed_paths"] == [str(tmp_path / "site.conf"), str(tmp_path / "default")]
    assert not (tmp_path / "default").exists()
    with pytest.raises(ValueError, match=r"files\[1\].path: must be an absolute path"):
        parse_entries([{"path": "/a", "content": "x"}], ["relative"])


def test_backup_keeps_the_previous_file_only_when_there_was_one(tmp_path):
    conf = tmp_path / "upstream.conf"
    entries = [{"path": str(conf), "content": "new\n", "backup": True}]
    assert "backup_file" not in run(entries)["results"][0]
    conf.write_text("old\n")
    result = run(entries)["results"][0]
    assert conf.read_text() == "new\n"
    assert open(result["backup_file"]).read() == "old\n"
    assert result["backup_file"].startswith(str(conf) + ".") and result["backup_file"].endswith("~")
    assert "backup_file" not in run(entries)["results"][0]


@pytest.mark.parametrize("surrogate", ["\ud800", "\udbff", "\udfff", "\udc7f"])
@pytest.mark.parametrize("field, entry", [
    ("path", {"path": "/tmp/a{}", "content": "a"}),
    ("content", {"path": "/tmp/a", "content": "x{}"}),
    ("copy_from", {"path": "/tmp/a", "copy_from": "/tmp/b{}"}),
    ("src", {"path": "/tmp/a", "src": "b{}"}),
])
def test_text_that_stands_for_no_byte_is_refused_naming_the_field(field, entry, surrogate):
    entry = {key: value.replace("{}", surrogate) for key, value in entry.items()}
    words = r"\Afiles\[1\]\.%s: %s at \d+ stands for no byte" % (field, re.escape(repr(surrogate)))
    with pytest.raises(ValueError, match=words):
        parse_entries([{"path": "/tmp/first", "content": "a"}, entry])


def test_a_byte_that_is_not_utf8_reaches_the_file_as_that_byte(tmp_path):
    path = tmp_path / "latin1.conf"
    run([{"path": str(path), "content": "caf\udce9\n"}])
    assert path.read_bytes() == b"caf\xe9\n"


@pytest.mark.parametrize("mode", ["0750", "0700", "0755"])
def test_missing_parents_get_the_owner_group_and_mode_asked(tmp_path, mode):
    deepest = tmp_path / "opt" / "app" / "releases"
    result = run([{"path": str(deepest), "state": "directory", "owner": UID, "group": GID, "mode": mode}])
    assert result["changed_paths"] == [str(deepest)]
    for path in (tmp_path / "opt", tmp_path / "opt" / "app", deepest):
        info = os.stat(path)
        assert (stat.S_IMODE(info.st_mode), str(info.st_uid), str(info.st_gid)) == (int(mode, 8), UID, GID)


@pytest.mark.parametrize("existing_mode, entry_mode, final_mode, changes", [
    (0o640, None, 0o640, ["content"]),
    (0o640, "0644", 0o644, ["content", "mode"]),
    (None, None, 0o644, ["created"]),
    (None, "0600", 0o600, ["created"]),
])
def test_a_file_is_moved_in_place_by_atomic_move(tmp_path, monkeypatch, existing_mode, entry_mode, final_mode,
                                                 changes):
    target = tmp_path / "launch.py"
    if existing_mode is not None:
        target.write_text("old\n")
        os.chmod(target, existing_mode)
    host = module()
    moves = []
    real_move = host.atomic_move

    def recording_move(src, dest, *args, **kwargs):
        moves.append((os.path.dirname(src), dest, stat.S_IMODE(os.umask(0o022))))
        os.umask(moves[-1][2])
        return real_move(src, dest, *args, **kwargs)

    monkeypatch.setattr(host, "atomic_move", recording_move)
    entry = {"path": str(target), "content": "new\n"}
    if entry_mode:
        entry["mode"] = entry_mode
    umask = os.umask(0o022)
    os.umask(umask)
    outcomes = apply(parse_entries([entry]), host)
    assert os.umask(umask) == umask
    assert outcomes[0].changes == changes
    assert [move[:2] for move in moves] == [(str(tmp_path), str(target))]
    if existing_mode is None:
        # A new file is never wider than asked, even between the move and the chmod.
        assert 0o666 & ~moves[0][2] & ~final_mode == 0
    assert target.read_text() == "new\n" and stat.S_IMODE(os.stat(target).st_mode) == final_mode
    assert [name for name in os.listdir(tmp_path) if name != "launch.py"] == []


def test_a_dollar_or_tilde_in_a_path_is_taken_as_written(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEOPS_ELSEWHERE", str(tmp_path / "elsewhere"))
    (tmp_path / "elsewhere").mkdir(mode=0o755)
    os.chmod(tmp_path / "elsewhere", 0o755)
    literal = tmp_path / "$EDGEOPS_ELSEWHERE"
    run([{"path": str(literal), "state": "directory", "mode": "0750"},
         {"path": str(tmp_path / "~"), "content": "x", "mode": "0600"}])
    assert stat.S_IMODE(os.stat(literal).st_mode) == 0o750
    assert stat.S_IMODE(os.stat(tmp_path / "elsewhere").st_mode) == 0o755
    assert (tmp_path / "~").read_text() == "x"
