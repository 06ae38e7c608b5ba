"""The app server's connection persistence (RFC 9112 section 9.3) and a
client that half-closes after its requests: loopback only, every server
stopped by its PID, every read bounded by a socket timeout."""

import signal
import socket
import time

import pytest

from helpers.processes import start_app_server

IDLE_TIMEOUT_S = 5
CLOSED_WITHIN_S = 1.0
OPEN_FOR_S = 0.5  # a connection that should persist is still open after this (the server's idle timeout is 5 s)


@pytest.fixture(scope="module", params=[0, 100], ids=["no latency", "latency 100 ms"])
def app(request):
    proc, port = start_app_server("--idle-timeout", str(IDLE_TIMEOUT_S), "--latency-ms", str(request.param))
    yield port
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=10)


def read_response(sock, buffered=b"", head_only=False):
    """(head fields as a dict of lists, the bytes after this response) of one
    response with a Content-Length (the answer to a HEAD has no body)."""
    data = buffered
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError("closed before a whole response head: %r" % data)
        data += chunk
    head, data = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    fields = {}
    for line in lines[1:]:
        name, dummy, value = line.partition(":")
        fields.setdefault(name.strip().lower(), []).append(value.strip())
    length = 0 if head_only else int(fields["content-length"][0])
    while len(data) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError("closed within a response body")
        data += chunk
    assert lines[0].startswith("HTTP/1.1 ")
    return fields, data[length:]


def closed_by_server(sock, within_s):
    """True if the server closes (EOF or reset) within `within_s` and sends nothing more."""
    sock.settimeout(within_s)
    try:
        return sock.recv(65536) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


PERSISTENCE = [
    # (request line's version, Connection field lines, persistent, Connection field of the response)
    ("HTTP/1.1", [], True, None),
    ("HTTP/1.1", ["keep-alive"], True, None),
    ("HTTP/1.1", ["close"], False, "close"),
    ("HTTP/1.1", ["CLOSE"], False, "close"),
    ("HTTP/1.1", ["close, foo"], False, "close"),
    ("HTTP/1.1", ["foo, close"], False, "close"),
    ("HTTP/1.1", ["foo,close"], False, "close"),
    ("HTTP/1.1", ["Keep-Alive ,\tClose"], False, "close"),
    ("HTTP/1.1", ["foo", "close"], False, "close"),
    ("HTTP/1.1", ["close", "foo"], False, "close"),
    ("HTTP/1.1", ["closed"], True, None),
    ("HTTP/1.1", ["foo, bar"], True, None),
    ("HTTP/1.0", [], False, "close"),
    ("HTTP/1.0", ["foo"], False, "close"),
    ("HTTP/1.0", ["close"], False, "close"),
    ("HTTP/1.0", ["keep-alive, close"], False, "close"),
    ("HTTP/1.0", ["keep-alive", "close"], False, "close"),
    ("HTTP/1.0", ["keep-alives"], False, "close"),
    ("HTTP/1.0", ["keep-alive"], True, "keep-alive"),
    ("HTTP/1.0", ["Keep-Alive"], True, "keep-alive"),
    ("HTTP/1.0", ["keep-alive, foo"], True, "keep-alive"),
    ("HTTP/1.0", ["foo", "keep-alive"], True, "keep-alive"),
]


@pytest.mark.parametrize("version, connection, persistent, answer", PERSISTENCE,
                         ids=["%s %s" % (case[0], " | ".join(case[1]) or "none") for case in PERSISTENCE])
def test_the_connection_persists_exactly_as_rfc_9112_says(app, version, connection, persistent, answer):
    fields = "".join("Connection: %s\r\n" % value for value in connection)
    request = ("GET /healthz %s\r\nHost: t\r\n%s\r\n" % (version, fields)).encode()
    with socket.create_connection(("127.0.0.1", app), timeout=5) as sock:
        sock.sendall(request)
        head, rest = read_response(sock)
        assert rest == b""
        assert head.get("connection") == ([answer] if answer else None)
        if persistent:
            assert not closed_by_server(sock, OPEN_FOR_S)
            sock.settimeout(5)
            sock.sendall(request)
            assert read_response(sock)[1] == b""
        else:
            started = time.monotonic()
            assert closed_by_server(sock, CLOSED_WITHIN_S)
            assert time.monotonic() - started < CLOSED_WITHIN_S


HALF_CLOSED = {
    "one request": [b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"],
    "HTTP/1.0": [b"GET /healthz HTTP/1.0\r\n\r\n"],
    "HEAD": [b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n"],
    "a request with a body": [b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"],
    "three pipelined": [b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n", b"GET / HTTP/1.1\r\nHost: t\r\n\r\n",
                        b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n"],
    "pipelined, the last one closing": [b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n",
                                        b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"],
}


@pytest.mark.parametrize("requests", HALF_CLOSED.values(), ids=HALF_CLOSED.keys())
def test_a_client_that_half_closes_after_its_requests_gets_every_response(app, requests):
    with socket.create_connection(("127.0.0.1", app), timeout=5) as sock:
        sock.sendall(b"".join(requests))
        sock.shutdown(socket.SHUT_WR)  # the end of its input is not the end of the connection
        rest = b""
        for request in requests:
            head, rest = read_response(sock, rest, head_only=request.startswith(b"HEAD"))
            assert head["x-backend"]
        assert rest == b""
        assert closed_by_server(sock, CLOSED_WITHIN_S)  # then it closes: nothing more can come


def test_a_client_that_half_closes_within_a_head_is_closed_without_an_answer(app):
    with socket.create_connection(("127.0.0.1", app), timeout=5) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
        sock.shutdown(socket.SHUT_WR)
        assert closed_by_server(sock, CLOSED_WITHIN_S)


def test_a_client_that_half_closes_within_a_body_is_closed(app):
    """Its answer may have gone out at the head (the app reads no body): then the connection closes."""
    with socket.create_connection(("127.0.0.1", app), timeout=5) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nhello")
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(CLOSED_WITHIN_S)
        received, started = b"", time.monotonic()
        while time.monotonic() - started < CLOSED_WITHIN_S:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        else:
            pytest.fail("still open after %s s" % CLOSED_WITHIN_S)
        assert received == b"" or received.startswith(b"HTTP/1.1 405 ")
