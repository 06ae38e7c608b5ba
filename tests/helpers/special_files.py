"""Paths that are there but are no regular file, for the tests of what the
modules refuse to open (a FIFO would block a reader for ever)."""

import os

# The kinds, as the modules name them in their errors.
KINDS = ["a FIFO", "a directory", "a character device"]


def not_regular(directory, kind):
    """A path under `directory` (a pathlib.Path) that is `kind`, one of KINDS."""
    path = str(directory / "not-regular")
    if kind == "a FIFO":
        os.mkfifo(path)
    elif kind == "a directory":
        os.mkdir(path)
    else:
        return "/dev/zero"
    return path
