"""The unit tier is pure: no child process, no socket. Anything that starts
nginx, an HTTP server, ansible-playbook or a module process belongs in
tests/functional (loopback) or tests/integration (containers)."""

import os
import socket
import subprocess

import pytest

from helpers.paths import COLLECTION_LINK

if not COLLECTION_LINK.is_dir():
    pytest.exit("%s is missing: `make venv` links the checkout there" % COLLECTION_LINK, returncode=4)


def _forbidden(what):
    def refuse(*args, **kwargs):
        raise AssertionError("%s in a unit test: tests/unit starts no process and opens no socket; "
                             "move this test to tests/functional" % what)
    return refuse


@pytest.fixture(scope="module", autouse=True)
def no_process_no_socket():
    """For every module of this tier: socket.socket, name lookups and every
    way of starting a process raise."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket, "socket", _forbidden("socket.socket"))
        patch.setattr(socket, "getaddrinfo", _forbidden("socket.getaddrinfo"))
        patch.setattr(socket, "gethostbyname", _forbidden("socket.gethostbyname"))
        patch.setattr(subprocess, "Popen", _forbidden("subprocess.Popen"))
        for name in ("system", "fork", "posix_spawn", "posix_spawnp", "execv", "execve"):
            patch.setattr(os, name, _forbidden("os." + name))
        yield
