# -*- coding: utf-8 -*-
# Copyright: edgeops engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the modules share when they read from the host or run a command on
it: a file read must be a regular file (a FIFO blocks a read for ever, a
device never ends), a command ends by the module's deadline, and a value
from the task never reaches a command where it could be taken for an option.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

from ansible_collections.edgeops.nginx_lb.plugins.module_utils import _files

DEADLINE_MAX_S = 3600.0
# A numeric owner or group as chown takes it: (uid_t)-1 means "leave as is".
ID_MAX = 2 ** 32 - 2


def read_regular(path, limit=None, what="path"):
    """The bytes of `path` (at most `limit` + 1 when given, so that a caller
    can tell a file that is too large), read by _files.read_regular: a path
    that is no regular file is refused before it is read (ValueError naming
    `what` and the path). FileNotFoundError and other OSError pass through."""
    try:
        return _files.read_regular(path, limit)
    except _files.NotRegularFile as exc:
        raise ValueError("%s: %s is %s, not a regular file" % (what, path, exc.kind)) from None


def encodable(field, value):
    """`value` (text) as the bytes it stands for on the host: a byte that is
    not UTF-8 comes as a surrogate escape and goes back as that byte; a lone
    surrogate of any other kind names no byte, so ValueError names `field`."""
    try:
        return value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as exc:
        raise ValueError("%s: %r at %d stands for no byte (a lone surrogate)"
                         % (field, value[exc.start], exc.start)) from None


def check_deadline(value, field="deadline"):
    """Seconds, more than 0 and at most DEADLINE_MAX_S; ValueError names the field."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= DEADLINE_MAX_S:
        raise ValueError("%s: must be more than 0 and at most %g seconds, got %r" % (field, DEADLINE_MAX_S, value))
    return float(value)


class Deadline:
    """The end of a module run: every command it starts gets what is left."""

    def __init__(self, seconds, clock=time.monotonic):
        self.seconds = check_deadline(seconds)
        self._clock = clock
        self._end = clock() + self.seconds

    def remaining(self):
        return max(0.0, self._end - self._clock())


def check_operand(field, value, allowed, described):
    """`value` as a command takes it after `--`: a string matching the
    anchored allow-list `allowed` (`described` in words), never starting
    with '-' (checked apart, so that it holds when the allow-list widens)."""
    if not isinstance(value, str) or value.startswith("-") or not allowed.match(value):
        raise ValueError("%s: must be %s, not starting with '-', got %r" % (field, described, value))
    return value


def run_until(deadline, argv, env=None):
    """(rc, stdout, stderr) of `argv`, run without a shell and with stdin from
    /dev/null (`env`: variables set for it, over the module's own). A command
    still running at the deadline is killed with the processes it started
    (its own session), and ValueError names it."""
    if deadline.remaining() <= 0:
        raise ValueError("deadline: %g s passed before %s could run" % (deadline.seconds, argv[0]))
    # Not AnsibleModule.run_command: it has no deadline that kills the command's whole session.
    # (ansible-test 2.21's pylint on Python 3.13 asks for run_command.)
    # pylint: disable-next=ansible-bad-function
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True, env=dict(os.environ, **env) if env else None)
    try:
        out, err = proc.communicate(timeout=deadline.remaining())
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        try:
            proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            # A grandchild that left the session still holds the pipes.
            proc.wait()
        raise ValueError("deadline: %s did not finish within %g s and was killed" % (argv[0], deadline.seconds))
    return proc.returncode, out.decode("utf-8", "surrogateescape"), err.decode("utf-8", "surrogateescape")
