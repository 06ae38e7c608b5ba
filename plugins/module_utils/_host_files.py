# -*- coding: utf-8 -*-
# Copyright: edgeops engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Several files, directories, links and removals in one module run.

A re-run of the roles spent most of its time starting modules on the host:
one copy or template task is a stat and a file module run, a directory one
more. host_files compares and applies a whole list at once: what already
matches (content, owner, group, mode, link target) is left alone, and what
differs is changed with AnsibleModule's own file primitives (atomic_move keeps
a replaced file's SELinux context and attributes, set_*_if_different), so a
file ends up as the copy and file modules would leave it. Nothing is changed
in check mode. Every entry is checked before the first change: bad input
changes nothing; a failure on the host later names the entries already applied.
"""

from __future__ import annotations

import difflib
import grp
import os
import pwd
import re
import shutil
import stat
from dataclasses import dataclass, field

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._convert import USER_OR_ID_RE
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._files import kind_of, write_atomically
from ansible_collections.edgeops.nginx_lb.plugins.module_utils._host_io import ID_MAX, encodable, read_regular

STATES = ("file", "directory", "link", "absent")
# Modes as chmod's octal.
_MODE = re.compile(r"\A0?[0-7]{3,4}\Z")
# A diff shows a file's text only up to this size, like the copy module's.
DIFF_MAX_BYTES = 64 * 1024
# Module arguments travel in one JSON document: a program tree belongs in copy.
CONTENT_MAX_BYTES = 4 * 1024 * 1024


@dataclass
class Entry:
    path: str
    state: str
    content: bytes | None = None
    copy_from: str | None = None
    force: bool = True
    attributes_only: bool = False
    backup: bool = False
    target: str | None = None
    owner: str | None = None
    group: str | None = None
    mode: int | None = None


@dataclass
class Outcome:
    path: str
    state: str
    changes: list = field(default_factory=list)
    before: str | None = None
    after: str | None = None
    backup_file: str | None = None

    @property
    def changed(self):
        return bool(self.changes)


class PartlyApplied(ValueError):
    """A change on the host failed after the entries in `applied` were
    brought to their state (they stay so: the module reports them)."""

    def __init__(self, path, error, applied):
        message = str(error)
        super().__init__(message if message.startswith(path + ": ") else "%s: %s" % (path, message))
        self.applied = applied


def _fail(index, name, message):
    raise ValueError("files[%d].%s: %s" % (index, name, message))


def _check_path(index, name, value):
    if not isinstance(value, str) or not value:
        _fail(index, name, "a non-empty absolute path is required")
    if "\x00" in value or "\n" in value:
        _fail(index, name, "no NUL byte or newline allowed")
    if not value.startswith("/") or value.rstrip("/") == "":
        _fail(index, name, "must be an absolute path below / (got %r)" % value)
    if ".." in value.split("/"):
        _fail(index, name, "no '..' component allowed (got %r)" % value)
    encodable("files[%d].%s" % (index, name), value)
    return os.path.normpath(value)


def parse_entries(raw, absent=()):
    """The task's list of dicts (and the paths of I(absent), removed after
    them) as Entry objects; ValueError names the field."""
    if not isinstance(raw, list) or not isinstance(absent, (list, tuple)):
        raise ValueError("files and absent: lists are required")
    raw = list(raw) + [{"path": path, "state": "absent"} for path in absent]
    if not raw:
        raise ValueError("files: a non-empty list is required (or paths in absent)")
    entries, seen = [], {}
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise ValueError("files[%d]: a dict is required" % index)
        unknown = set(item) - {"path", "state", "content", "copy_from", "force", "backup", "src", "owner", "group",
                               "mode"}
        if unknown:
            _fail(index, sorted(unknown)[0], "unknown option (known: path, state, content, copy_from, force, backup,"
                  " src, owner, group, mode)")
        path = _check_path(index, "path", item.get("path"))
        given = {key for key in ("content", "copy_from", "src") if item.get(key) is not None}
        state = item.get("state") or ("link" if "src" in given else "file" if given else None)
        if state not in STATES:
            _fail(index, "state", "one of %s is required (got %r)" % (", ".join(STATES), item.get("state")))
        entry = Entry(path=path, state=state)
        if state == "file":
            if len(given & {"content", "copy_from"}) > 1 or "src" in given:
                _fail(index, "content", "a file takes one of content or copy_from")
            if not given:
                # Only owner, group and mode of a file that must exist.
                entry.attributes_only = True
            elif "content" in given:
                content = item["content"]
                if not isinstance(content, str):
                    _fail(index, "content", "text is required")
                entry.content = encodable("files[%d].content" % index, content)
                if len(entry.content) > CONTENT_MAX_BYTES:
                    _fail(index, "content", "%d bytes, more than %d: use the copy module"
                          % (len(entry.content), CONTENT_MAX_BYTES))
            else:
                entry.copy_from = _check_path(index, "copy_from", item["copy_from"])
            force = item.get("force", True)
            if not isinstance(force, bool):
                _fail(index, "force", "true or false is required")
            entry.force = force
            backup = item.get("backup", False)
            if not isinstance(backup, bool):
                _fail(index, "backup", "true or false is required")
            entry.backup = backup
        elif given - ({"src"} if state == "link" else set()):
            _fail(index, sorted(given)[0], "only a file takes content or copy_from, only a link src")
        if state == "link":
            target = item.get("src")
            if not isinstance(target, str) or not target or "\x00" in target or "\n" in target:
                _fail(index, "src", "a link needs a target path (no NUL byte or newline)")
            encodable("files[%d].src" % index, target)
            entry.target = target
        for name in ("owner", "group"):
            value = item.get(name)
            if value is None:
                continue
            if state == "absent":
                _fail(index, name, "not with state absent")
            if not isinstance(value, (str, int)) or isinstance(value, bool) or not USER_OR_ID_RE.match(str(value)):
                _fail(index, name, "a user or group name (lowercase letters, digits, _ . -) or a numeric id"
                      " is required (got %r)" % (value,))
            if str(value).isdigit() and int(value) > ID_MAX:
                # chown takes 2**32-1 as "leave as is": the file would never get it.
                _fail(index, name, "a numeric id must be 0-%d, got %s" % (ID_MAX, value))
            setattr(entry, name, str(value))
        mode = item.get("mode")
        if mode is not None:
            if state in ("absent", "link"):
                _fail(index, "mode", "not with state %s" % state)
            if not isinstance(mode, str) or not _MODE.match(mode):
                _fail(index, "mode", "an octal mode as a quoted string such as '0644' is required (got %r)" % (mode,))
            entry.mode = int(mode, 8)
        if path in seen:
            _fail(index, "path", "%s is listed twice (also files[%d])" % (path, seen[path]))
        seen[path] = index
        entries.append(entry)
    return entries


def _uid(name):
    return int(name) if name.isdigit() else pwd.getpwnam(name).pw_uid


def _gid(name):
    return int(name) if name.isdigit() else grp.getgrnam(name).gr_gid


def _ids(entry, check_mode):
    """The numeric owner and group; in check mode a user a skipped task would
    have created counts as a change rather than an error."""
    ids = []
    for name, lookup in ((entry.owner, _uid), (entry.group, _gid)):
        if name is None:
            ids.append(None)
            continue
        try:
            ids.append(lookup(name))
        except KeyError:
            if check_mode:
                ids.append(-2)
                continue
            kind = "user" if lookup is _uid else "group"
            raise ValueError("%s: no such %s %r on the host" % (entry.path, kind, name))
    return ids


def _lstat(path):
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def _text(data):
    if data is None or len(data) > DIFF_MAX_BYTES or b"\x00" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _attr_changes(entry, current, uid, gid, mode=None):
    mode = entry.mode if mode is None else mode
    changes = []
    if mode is not None and (current is None or stat.S_IMODE(current.st_mode) != mode):
        changes.append("mode")
    if uid is not None and (current is None or current.st_uid != uid):
        changes.append("owner")
    if gid is not None and (current is None or current.st_gid != gid):
        changes.append("group")
    return changes


def _set_attributes(module, path, mode, uid, gid):
    """AnsibleModule's own setters (lchown for a link, no mode on a link);
    expand=False: a path is taken as given, never as ~ or $VARIABLE."""
    if mode is not None:
        module.set_mode_if_different(path, mode, False, expand=False)
    if uid is not None:
        module.set_owner_if_different(path, uid, False, expand=False)
    if gid is not None:
        module.set_group_if_different(path, gid, False, expand=False)


def _put_attributes(module, entry, current, uid, gid, outcome, follow=True):
    """Owner, group and mode (not of a link: its mode means nothing) put right
    on a path whose kind and content are already as asked."""
    attrs = [name for name in _attr_changes(entry, current, uid, gid) if follow or name != "mode"]
    outcome.changes.extend(attrs)
    if attrs and not module.check_mode:
        _set_attributes(module, entry.path, entry.mode if follow else None, uid, gid)


def _source(entry, check_mode):
    """The bytes a file entry wants, or None when a copy_from source that an
    earlier (check mode) task would create is missing."""
    if entry.content is not None:
        return entry.content
    try:
        return read_regular(entry.copy_from, what="%s: copy_from" % entry.path)
    except FileNotFoundError:
        if check_mode:
            return None
        raise ValueError("%s: copy_from %s does not exist on the host" % (entry.path, entry.copy_from))


def _write(module, path, data, creating, mode):
    """The data in a temporary file beside PATH, moved over it by atomic_move
    (an existing file's owner, mode and SELinux context carry over)."""
    def move(temporary, dest):
        # atomic_move gives a new file 0666 less the umask: with this umask
        # it is never wider than the mode asked for, not even for a moment.
        umask = os.umask(0o777 & ~mode) if creating else None
        try:
            module.atomic_move(temporary, dest)
        finally:
            if creating:
                os.umask(umask)

    write_atomically(path, data, mode, move=move)


def _file(module, entry, outcome, uid, gid):
    check_mode = module.check_mode
    current = _lstat(entry.path)
    if current is not None and stat.S_ISDIR(current.st_mode):
        raise ValueError("%s: is a directory, a file was asked for" % entry.path)
    is_file = current is not None and stat.S_ISREG(current.st_mode)
    if entry.attributes_only and not is_file:
        if check_mode:
            # An earlier task skipped in check mode would have created it.
            outcome.changes.append("created")
            return
        raise ValueError("%s: no such file (an entry without content or copy_from only sets its attributes)"
                         % entry.path)
    before = read_regular(entry.path, what=entry.path) if is_file else None
    if is_file and (entry.attributes_only or not entry.force):
        wanted = before
    else:
        wanted = _source(entry, check_mode)
    if wanted is not None and before == wanted:
        _put_attributes(module, entry, current, uid, gid, outcome)
        return
    outcome.changes.append("content" if is_file else "created")
    # A file others may not read (a key) and a copy of a host file never show in a diff.
    if entry.content is not None and (entry.mode is None or entry.mode & 0o004):
        outcome.before, outcome.after = _text(before or b""), _text(wanted or b"")
    mode = entry.mode if entry.mode is not None or is_file else 0o644
    if is_file:
        # Content and attributes are separate changes, as the copy module reports them.
        outcome.changes.extend(_attr_changes(entry, current, uid, gid, mode))
    if check_mode:
        return
    if entry.backup and is_file:
        outcome.backup_file = module.backup_local(entry.path)
    _write(module, entry.path, wanted, not is_file, 0o600 if mode is None else mode)
    _set_attributes(module, entry.path, mode, uid, gid)


def _missing_directories(path):
    """PATH and its missing parents, the outermost first."""
    missing = []
    while not os.path.lexists(path):
        missing.insert(0, path)
        path = os.path.dirname(path)
    return missing


def _directory(module, entry, outcome, uid, gid):
    current = _lstat(entry.path)
    if current is not None and not stat.S_ISDIR(current.st_mode):
        raise ValueError("%s: exists and is not a directory" % entry.path)
    if current is not None:
        _put_attributes(module, entry, current, uid, gid, outcome)
        return
    outcome.changes.append("created")
    if module.check_mode:
        return
    # Like the file module: each missing parent gets the owner, group and mode asked for.
    for path in _missing_directories(entry.path):
        os.mkdir(path, 0o700)
        _set_attributes(module, path, 0o755 if entry.mode is None else entry.mode, uid, gid)


def _link(module, entry, outcome, uid, gid):
    current = _lstat(entry.path)
    if current is not None and stat.S_ISDIR(current.st_mode):
        raise ValueError("%s: is a directory, a link was asked for" % entry.path)
    if current is not None and stat.S_ISLNK(current.st_mode) and os.readlink(entry.path) == entry.target:
        _put_attributes(module, entry, current, uid, gid, outcome, follow=False)
        return
    outcome.changes.append("created" if current is None else "target")
    if module.check_mode:
        return
    # A new link beside the old one, renamed over it (as the file module does).
    directory, name = os.path.split(entry.path)
    temporary = os.path.join(directory, ".%s.%d.link" % (name, os.getpid()))
    if os.path.lexists(temporary):
        os.unlink(temporary)
    os.symlink(entry.target, temporary)
    try:
        _set_attributes(module, temporary, None, uid, gid)
        os.replace(temporary, entry.path)
    finally:
        if os.path.lexists(temporary):
            os.unlink(temporary)


def _absent(module, entry, outcome, uid, gid):
    current = _lstat(entry.path)
    if current is None:
        return
    outcome.changes.append("removed")
    if module.check_mode:
        return
    if stat.S_ISDIR(current.st_mode):
        shutil.rmtree(entry.path)
    else:
        os.unlink(entry.path)


def _check_sources_and_directories(entries):
    """Each copy_from a regular file (or written by an earlier entry), each
    file's and link's directory present (or created by an earlier entry)."""
    written, directories = set(), set()
    for entry in entries:
        if entry.copy_from and entry.copy_from not in written:
            try:
                mode = os.stat(entry.copy_from).st_mode
            except FileNotFoundError:
                raise ValueError("%s: copy_from %s does not exist on the host" % (entry.path, entry.copy_from))
            if not stat.S_ISREG(mode):
                raise ValueError("%s: copy_from: %s is %s, not a regular file" % (entry.path, entry.copy_from,
                                                                                  kind_of(mode)))
        parent = os.path.dirname(entry.path)
        if entry.state in ("file", "link") and parent not in directories and not os.path.isdir(parent):
            raise ValueError("%s: the directory %s does not exist (list it first with state directory)"
                             % (entry.path, parent))
        written.add(entry.path)
        if entry.state == "directory":
            # makedirs creates the missing parents too.
            path = entry.path
            while path not in directories and path != "/":
                directories.add(path)
                path = os.path.dirname(path)


_APPLY = {"file": _file, "directory": _directory, "link": _link, "absent": _absent}


def apply(entries, module, applied=None):
    """Bring each entry to its state, in order, with the AnsibleModule's file
    primitives; the list of Outcome (`applied`, filled as entries are done,
    so that a caller whose fail_json a primitive calls can still report it).
    In check mode (module.check_mode) nothing is changed and the outcomes say
    what would be. A failure on the host after the checks raises
    PartlyApplied with the outcomes already applied."""
    check_mode = module.check_mode
    # Everything that can be refused is looked up before the first change.
    ids = [_ids(entry, check_mode) for entry in entries]
    if not check_mode:
        # In check mode an earlier (skipped) task may create a source or a directory.
        _check_sources_and_directories(entries)
    outcomes = [] if applied is None else applied
    for entry, (uid, gid) in zip(entries, ids):
        outcome = Outcome(path=entry.path, state=entry.state)
        try:
            _APPLY[entry.state](module, entry, outcome, uid, gid)
        except Exception as exc:  # atomic_move raises a bare Exception
            raise PartlyApplied(entry.path, exc, outcomes) from exc
        outcomes.append(outcome)
    return outcomes


def as_result(outcomes, with_diff=False):
    """The module's return values (and Ansible's diff list in diff mode)."""
    result = {
        "changed": any(outcome.changed for outcome in outcomes),
        "changed_paths": [outcome.path for outcome in outcomes if outcome.changed],
        "results": [dict({"path": outcome.path, "state": outcome.state, "changed": outcome.changed,
                          "changes": outcome.changes},
                         **({"backup_file": outcome.backup_file} if outcome.backup_file else {}))
                    for outcome in outcomes],
    }
    if with_diff:
        diffs = []
        for outcome in outcomes:
            if not outcome.changed:
                continue
            if outcome.before is not None or outcome.after is not None:
                # Prepared text, not before/after: the content is no_log, and Ansible
                # masks a returned value that equals it.
                diffs.append({"prepared": "".join(difflib.unified_diff(
                    (outcome.before or "").splitlines(True), (outcome.after or "").splitlines(True),
                    "before: %s" % outcome.path, "after: %s" % outcome.path))})
            else:
                diffs.append({"before_header": outcome.path, "after_header": outcome.path,
                              "before": "", "after": "%s: %s\n" % (outcome.state, ", ".join(outcome.changes))})
        result["diff"] = diffs
    return result
