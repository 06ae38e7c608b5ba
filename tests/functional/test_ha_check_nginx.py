"""The ha role's track script (roles/ha/files/check_nginx.py), run as
keepalived runs it, against a private HTTP server on loopback."""

import http.server
import socket
import subprocess
import sys
import threading
import time

import pytest

from helpers.localnet import free_port
from helpers.paths import ROLES

SCRIPT = ROLES / "ha" / "files" / "check_nginx.py"


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # pylint: disable=invalid-name
        if self.path == "/slow":
            time.sleep(3)
        status = {"/ok": 200, "/slow": 200, "/forbidden": 403, "/broken": 502}.get(self.path, 404)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):  # quiet
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def check(url, timeout="1"):
    started = time.monotonic()
    proc = subprocess.run([sys.executable, str(SCRIPT), url, timeout], capture_output=True, text=True, timeout=30,
                          check=False)
    return proc.returncode, time.monotonic() - started


def test_healthy_only_on_200(server):
    assert check("http://127.0.0.1:%d/ok" % server)[0] == 0
    for path in ("/forbidden", "/broken", "/missing"):
        assert check("http://127.0.0.1:%d%s" % (server, path))[0] == 1, path


def test_nothing_listening_is_unhealthy():
    assert check("http://127.0.0.1:%d/ok" % free_port())[0] == 1


def test_a_hung_server_is_unhealthy_within_the_timeout(server):
    code, took = check("http://127.0.0.1:%d/slow" % server, timeout="1")
    assert code == 1 and took < 2.5, took


def test_a_listener_that_never_answers_is_unhealthy():
    with socket.socket() as sock:  # accepts (backlog) but never reads or answers
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        code, took = check("http://127.0.0.1:%d/ok" % sock.getsockname()[1], timeout="1")
    assert code == 1 and took < 2.5, took
