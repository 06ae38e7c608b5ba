"""Paths that are no regular file, for the tests that a module refuses to
read them, and a bound on such a test: a read that blocks (a FIFO) fails it
after a few seconds instead of hanging the run."""

import contextlib
import os
import signal

import pytest


def _fifo_behind_a_link(path):
    os.mkfifo(str(path) + ".fifo")
    os.symlink(str(path) + ".fifo", str(path))


# (make(path), the kind a refusal names); /dev/null, not /dev/zero: a reader
# that does not refuse it ends instead of filling the memory.
NOT_REGULAR = [
    pytest.param(lambda path: os.mkfifo(str(path)), "a FIFO", id="fifo"),
    pytest.param(_fifo_behind_a_link, "a FIFO", id="link-to-fifo"),
    pytest.param(lambda path: os.mkdir(str(path)), "a directory", id="directory"),
    pytest.param(lambda path: os.symlink("/dev/null", str(path)), "a character device", id="dev-null"),
]


@contextlib.contextmanager
def fail_after(seconds):
    def expire(signum, frame):
        raise AssertionError("blocked for %d s" % seconds)
    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
