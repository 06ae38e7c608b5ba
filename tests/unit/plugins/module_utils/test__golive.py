"""_golive: the one go-live path, driven with plain files and stand-in checks
(the functional tier runs the same paths with the host's nginx)."""

import os

import pytest

from ansible_collections.edgeops.nginx_lb.plugins.module_utils import _golive
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._validate import ValidationReport


def report(failure=None):
    """A ValidationReport nginx accepted, or one it refused with `failure`."""
    if failure is None:
        return ValidationReport(valid=True, subject="s")
    error = {"level": "emerg", "message": failure, "file": None, "line": None}
    return ValidationReport(valid=False, subject="s", errors=[error])


def leftovers(directory, keep=("upstream.conf",)):
    return sorted(name for name in os.listdir(directory) if name not in keep)


@pytest.mark.parametrize("previous, candidate_failure, whole_failure, check_mode, message, left", [
    (b"old\n", None, None, False, None, b"new\n"),
    (b"old\n", None, None, True, None, b"old\n"),
    (None, None, None, True, None, None),
    (None, None, None, False, None, b"new\n"),
    (b"new\n", None, None, False, None, b"new\n"),
    (b"old\n", "unknown directive", None, False, "refused, nothing changed: nginx -t rejected s", b"old\n"),
    (b"old\n", "unknown directive", None, True, "refused, nothing changed: nginx -t rejected s", b"old\n"),
    (None, "unknown directive", None, False, "refused, nothing changed", None),
    (b"old\n", None, "duplicate upstream", False, "the previous file is back: nginx -t rejected s", b"old\n"),
    (None, None, "duplicate upstream", False, "the previous file is back: nginx -t rejected s", None),
], ids=["replaced", "check-mode", "check-mode-new", "created", "unchanged", "candidate-refused",
        "candidate-refused-check-mode", "candidate-refused-new", "whole-refused-restored", "whole-refused-removed"])
def test_go_live_keeps_the_live_file_when_nginx_refuses(
        tmp_path, previous, candidate_failure, whole_failure, check_mode, message, left):
    conf = tmp_path / "upstream.conf"
    if previous is not None:
        conf.write_bytes(previous)
        os.chmod(conf, 0o640)
    seen = []

    def check_whole():
        seen.append(conf.read_bytes())  # tested with the new file in place
        return report(whole_failure)

    result, failure = _golive.go_live(str(conf), b"new\n", lambda content: report(candidate_failure), check_whole,
                                      check_mode=check_mode)
    assert (failure is None) if message is None else (message in failure), failure
    assert (conf.read_bytes() if conf.exists() else None) == left
    written = not (check_mode or candidate_failure or previous == b"new\n")
    assert seen == ([b"new\n"] if written else [])
    assert result["changed"] is (message is None and previous != b"new\n")
    assert (result["whole"] is not None) is written and (result["candidate"] is not None)
    assert result["diff"]["before"] == (previous or b"").decode() and result["diff"]["after"] == "new\n"
    assert leftovers(tmp_path) == [] and result["backup_file"] is None
    if previous is not None:
        # Kept by a replacement, back with the previous bytes after a refusal.
        assert os.stat(conf).st_mode & 0o777 == 0o640


def test_a_new_file_gets_0644(tmp_path):
    conf = tmp_path / "sub" / "upstream.conf"
    result, failure = _golive.go_live(str(conf), b"new\n", lambda content: report(), report)
    assert failure is None and result["changed"] is True
    assert os.stat(conf).st_mode & 0o777 == 0o644


@pytest.mark.parametrize("keep", [True, False])
def test_backup_is_kept_only_when_asked(tmp_path, keep):
    conf = tmp_path / "upstream.conf"
    conf.write_bytes(b"old\n")
    result, failure = _golive.go_live(str(conf), b"new\n", lambda content: report(), report, keep_backup=keep)
    assert failure is None
    if keep:
        assert open(result["backup_file"], "rb").read() == b"old\n"
        assert result["backup_file"].startswith(str(conf) + ".") and result["backup_file"].endswith("~")
    else:
        assert result["backup_file"] is None and leftovers(tmp_path) == []


def test_when_the_restore_fails_the_copy_stays_and_is_named(tmp_path):
    conf = tmp_path / "upstream.conf"
    conf.write_bytes(b"old\n")
    moves = []

    def move(src, dest):
        moves.append(dest)
        if len(moves) == 2:
            raise OSError(28, "No space left on device")
        os.replace(src, dest)

    result, failure = _golive.go_live(str(conf), b"new\n", lambda content: report(), lambda: report("clash"), move=move)
    assert "could not be put back" in failure and result["backup_file"] in failure
    assert open(result["backup_file"], "rb").read() == b"old\n"


def test_a_whole_check_that_cannot_run_counts_as_refused(tmp_path):
    conf = tmp_path / "upstream.conf"
    conf.write_bytes(b"old\n")

    def check_whole():
        raise ValueError("deadline: nginx did not finish within 1 s and was killed")

    result, failure = _golive.go_live(str(conf), b"new\n", lambda content: report(), check_whole)
    assert "the previous file is back: nginx -t could not check it: deadline" in failure
    assert conf.read_bytes() == b"old\n" and leftovers(tmp_path) == []


@pytest.mark.parametrize("changed_attributes", [True, False])
def test_an_unchanged_file_only_gets_its_attributes(tmp_path, changed_attributes):
    conf = tmp_path / "upstream.conf"
    conf.write_bytes(b"same\n")
    calls = []

    def set_attributes(path, changed):
        calls.append((path, changed))
        return changed_attributes

    result, failure = _golive.go_live(str(conf), b"same\n", lambda content: report(),
                                      lambda: pytest.fail("no whole check for an unchanged file"),
                                      set_attributes=set_attributes)
    assert failure is None and result["changed"] is changed_attributes and calls == [(str(conf), False)]


def test_nginx_absent_in_a_dry_run_says_what_would_be_done(tmp_path):
    result, failure = _golive.go_live(str(tmp_path / "upstream.conf"), b"new\n", lambda content: None, report,
                                      check_mode=True)
    assert failure is None and result["changed"] is True and result["candidate"] is None
    assert result["msg"] == ("would test the candidate with nginx -t, install %s, then test the whole configuration "
                             "with nginx -t (check mode: nginx is not installed yet)" % (tmp_path / "upstream.conf"))
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("field, paths", [
    ("dest", {"dest": "conf.d/upstream.conf", "nginx_conf": "/etc/nginx/nginx.conf"}),
    ("dest", {"dest": "/etc/nginx/conf.d/up stream.conf", "nginx_conf": "/etc/nginx/nginx.conf"}),
    ("nginx_conf", {"dest": "/etc/nginx/conf.d/upstream.conf", "nginx_conf": "-c/etc/nginx.conf"}),
    ("nginx_conf", {"dest": "/etc/nginx/conf.d/upstream.conf", "nginx_conf": "/etc/nginx/nginx.conf;"}),
])
def test_paths_outside_the_allow_list_are_named(field, paths):
    with pytest.raises(ValueError, match="^%s: must be an absolute path" % field):
        _golive.nginx_checks("nginx", None, paths["dest"], paths["nginx_conf"])


def test_a_refused_file_gives_back_the_previous_mode_not_the_asked_one(tmp_path):
    conf = tmp_path / "upstream.conf"
    conf.write_bytes(b"old\n")
    os.chmod(conf, 0o640)

    def set_attributes(path, changed):
        os.chmod(path, 0o600)
        return True

    dummy, failure = _golive.go_live(str(conf), b"new\n", lambda content: report(), lambda: report("clash"),
                                     set_attributes=set_attributes)
    assert "the previous file is back" in failure
    assert conf.read_bytes() == b"old\n" and os.stat(conf).st_mode & 0o777 == 0o640
