# -*- coding: utf-8 -*-
# Copyright: edgeops engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading a file the modules are given without letting it hang them.

A FIFO, a character device or a socket at a configured path would block
``open()`` or ``read()`` for ever; the file is opened non-blocking and
refused unless it is a regular file, before a byte is read.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile


class NotRegularFile(OSError):
    """A path that is there but is no regular file (a FIFO, a directory...);
    `kind` says what it is ('a FIFO')."""

    def __init__(self, kind, path):
        super().__init__(errno.EINVAL, "not a regular file (%s)" % kind, path)
        self.kind = kind

    def __str__(self):
        return "%s: %s" % (self.filename, self.strerror)


def read_regular(path, limit=None):
    """The bytes of the regular file `path` (at most `limit` + 1 of them, so
    the caller can tell a longer file). OSError for a missing or unreadable
    file and for anything but a regular file (its strerror says which)."""
    handle = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(handle).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(kind_of(mode), path)
        os.set_blocking(handle, True)
        with os.fdopen(handle, "rb") as stream:
            handle = None
            return stream.read() if limit is None else stream.read(limit + 1)
    finally:
        if handle is not None:
            os.close(handle)


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def kind_of(mode):
    """'a FIFO', 'a directory', ... for a stat mode that is not a regular file."""
    for test, words in _KINDS:
        if test(mode):
            return words
    return "not a regular file"


def open_new(path, mode=0o600):
    """A new regular file at `path` for writing (whatever was there, a FIFO
    included, is removed first and a link is never followed)."""
    if os.path.lexists(path):
        os.unlink(path)
    handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), mode)
    return os.fdopen(handle, "wb")


def write_atomically(path, data, mode, uid=None, gid=None, move=os.replace):
    """`data` in `path` through a temporary file in its directory (written,
    synced, given `mode` and the owner asked), renamed over `path` by
    `move(src, dest)`: a reader sees the old or the new file, never half."""
    directory, name = os.path.split(path)
    handle, temporary = tempfile.mkstemp(prefix="." + name + ".", dir=directory)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
            os.fchmod(out.fileno(), mode)
            if uid is not None or gid is not None:
                os.fchown(out.fileno(), -1 if uid is None else uid, -1 if gid is None else gid)
        move(temporary, path)
    finally:
        if os.path.lexists(temporary):
            os.unlink(temporary)
