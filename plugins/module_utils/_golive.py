# -*- coding: utf-8 -*-
# Copyright: edgeops engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How an nginx file goes live, the one way for every file the collection
writes (nginx_file, upstream_server): the candidate checked alone by the
target's `nginx -t`, installed atomically with a copy of the previous file on
disk, the whole configuration checked with it in place, the previous file put
back (or the new one removed) when nginx refuses. Nothing reloads in
between, so the running nginx never sees a refused file.

Free of AnsibleModule: the checks, the rename and the attributes come in as
functions, so the unit tests drive every path with plain files."""

from __future__ import annotations

import os
import shutil
import time

from ansible_collections.edgeops.nginx_lb.plugins.module_utils import _files
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._syntax import PATH_RE
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._validate import validate

NEW_FILE_MODE = 0o644


def write_atomically(path, data, move=os.replace):
    """`data` in `path` by _files.write_atomically (AnsibleModule.atomic_move
    as `move` also keeps an existing file's owner and SELinux context). An
    existing file's mode is kept, a new file gets 0644; a missing directory
    is created (0755)."""
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    try:
        mode = os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        mode = NEW_FILE_MODE
    _files.write_atomically(path, data, mode, move=move)


def backup_copy(path):
    """A copy of `path` beside it, named as Ansible's backup option names it
    (PATH.PID.YYYY-MM-DD@HH:MM:SS~: no `.conf` ending, so no include glob of
    nginx picks it up)."""
    name = "%s.%d.%s~" % (path, os.getpid(), time.strftime("%Y-%m-%d@%H:%M:%S"))
    shutil.copy2(path, name)
    return name


def _restore(path, previous, previous_stat, move):
    write_atomically(path, previous, move=move)
    os.chmod(path, previous_stat.st_mode & 0o7777)
    os.chown(path, previous_stat.st_uid, previous_stat.st_gid)


def _text(data):
    return data.decode("utf-8", "surrogateescape")


def check_paths(**paths):
    """Each of {field: path} an absolute path of the allow-list (they reach
    nginx's command line and configs); ValueError names the field."""
    for field, path in paths.items():
        if not isinstance(path, str) or not PATH_RE.match(path):
            raise ValueError("%s: must be an absolute path of letters, digits and . _ ~ / -, got %r" % (field, path))


def nginx_checks(binary, runner, dest, nginx_conf, kind="conf.d", modules=(), lint=True, check_mode=False):
    """(check_candidate(content), check_whole()) for go_live, both by
    nginx_validate's `validate` through `runner` (a main candidate is tested
    beside `dest`, which is then the main file). ValueError names a path
    outside the allow-list, before anything runs."""
    check_paths(dest=dest, nginx_conf=nginx_conf)

    def check_candidate(content):
        return validate(binary, runner, path=dest if kind == "main" else nginx_conf, content=content,
                        shown_name=dest, lint_model=lint, kind=kind, check_mode=check_mode, modules=modules)

    def check_whole():
        return validate(binary, runner, path=nginx_conf, lint_model=lint)
    return check_candidate, check_whole


def go_live(path, content, check_candidate, check_whole, set_attributes=None, move=os.replace,
            check_mode=False, keep_backup=False, fail_on="error"):
    """Put `content` (bytes) live at `path`; (result, failure message or None).

    `check_candidate(content)` and `check_whole()` return a ValidationReport
    (check_candidate None: it could not run, nginx is not installed in a dry
    run). `set_attributes(path, changed)` -> changed puts the asked owner,
    group and mode on the file (AnsibleModule.set_fs_attributes_if_different;
    it honours check mode). The result: changed, path, backup_file (the copy
    of the previous file, when `keep_backup` kept it), candidate and whole
    (the checks' results, None when not run), diff, msg."""
    result = {"changed": False, "path": path, "backup_file": None, "candidate": None, "whole": None,
              "diff": {"before_header": path, "after_header": path, "before": "", "after": _text(content)}}
    try:
        previous = _files.read_regular(path)
        previous_stat = os.stat(path)
    except FileNotFoundError:
        previous = previous_stat = None
    except OSError as exc:
        return result, "%s: cannot read the current file, nothing changed: %s" % (path, exc.strerror or exc)
    result["diff"]["before"] = _text(previous or b"")
    candidate = check_candidate(content)
    if candidate is not None:
        result["candidate"] = candidate.as_result()
        failure = candidate.failure(fail_on)
        if failure:
            return result, "the new %s was refused, nothing changed: %s" % (path, failure)
    if previous == content:
        result["changed"] = bool(set_attributes and set_attributes(path, False))
        result["msg"] = "%s is up to date" % path
        return result, None
    result["changed"] = True
    if check_mode:
        result["msg"] = "would %sinstall %s, then test the whole configuration with nginx -t (check mode%s)" % (
            ("", path, "") if candidate is not None else
            ("test the candidate with nginx -t, ", path, ": nginx is not installed yet"))
        return result, None
    backup = backup_copy(path) if previous is not None else None
    write_atomically(path, content, move=move)
    if set_attributes:
        set_attributes(path, True)
    try:
        whole = check_whole()
        result["whole"] = whole.as_result()
        failure = whole.failure(fail_on)
    except (ValueError, OSError) as exc:
        # A deadline passed, say: unchecked is refused.
        failure = "nginx -t could not check it: %s" % exc
    if failure:
        try:
            if previous is None:
                os.unlink(path)
            else:
                _restore(path, previous, previous_stat, move)
        except OSError as exc:
            result["backup_file"] = backup
            return result, ("nginx rejected the whole configuration with the new %s and the previous file could "
                            "not be put back (%s; its copy is %s): %s" % (path, exc, backup, failure))
        if backup:
            os.unlink(backup)
        result["changed"] = False
        return result, "nginx rejected the whole configuration with the new %s; the previous file is back: %s" % (
            path, failure)
    if backup and not keep_backup:
        os.unlink(backup)
        backup = None
    result["backup_file"] = backup
    result["msg"] = "installed %s, the whole configuration passed nginx -t" % path
    return result, None
