"""A unit test of something that could block (a read of a FIFO) fails
after a few seconds instead of hanging the run."""

import contextlib
import signal


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
