"""Loopback helpers of the functional tier (tests/functional): nginx, free ports."""

import os
import shutil
import socket
import time

import pytest

NGINX = shutil.which("nginx") or (os.path.exists("/usr/sbin/nginx") and "/usr/sbin/nginx") or None
needs_nginx = pytest.mark.skipif(NGINX is None, reason="nginx is not installed on this machine")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port, seconds=10):
    """True once 127.0.0.1:port accepts, False after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False
