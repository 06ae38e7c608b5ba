"""The unit tier's guard (conftest.py) works: a socket or a child process in
a unit test fails it, naming where such a test belongs."""

import os
import socket
import subprocess
import sys

import pytest


@pytest.mark.parametrize("attempt", [
    # A lambda, so the patched socket.socket is looked up when it runs.
    lambda: socket.socket(),  # pylint: disable=unnecessary-lambda
    lambda: socket.create_connection(("127.0.0.1", 9), timeout=1),
    lambda: socket.getaddrinfo("localhost", 80),
    lambda: subprocess.run([sys.executable, "-c", "pass"], check=False),
    lambda: subprocess.check_output(["true"]),
    lambda: os.system("true"),
], ids=["socket", "create_connection", "getaddrinfo", "subprocess.run", "check_output", "os.system"])
def test_a_socket_or_a_process_fails_the_test(attempt):
    with pytest.raises(AssertionError, match="move this test to tests/functional"):
        attempt()
