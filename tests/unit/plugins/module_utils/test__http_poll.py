"""The poller's pure parts: credentials never shown."""

import http.client

import pytest

from ansible_collections.edgeops.nginx_lb.plugins.module_utils import _http_poll


@pytest.mark.parametrize("url, shown", [
    ("http://user:pass@127.0.0.1:8080/base", "http://127.0.0.1:8080/base"),
    ("https://user@lb.example", "https://lb.example"),
    ("http://127.0.0.1", "http://127.0.0.1"),
    ("http://u:p@[::1]:80/", "http://[::1]:80/"),
    ("not a url u:p@host", "not a url host"),
])
def test_redact_url(url, shown):
    assert _http_poll.redact_url(url) == shown


@pytest.mark.parametrize("target, host, port, scheme, headers, wire", [
    ("/rr", "127.0.0.1", 80, "http", {"User-Agent": "x"},
     b"GET /rr HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept-Encoding: identity\r\nUser-Agent: x\r\n\r\n"),
    ("", "lb.example", 8443, "https", {},
     b"GET / HTTP/1.1\r\nHost: lb.example:8443\r\nAccept-Encoding: identity\r\n\r\n"),
    ("/a", "::1", 443, "https", {},
     b"GET /a HTTP/1.1\r\nHost: [::1]\r\nAccept-Encoding: identity\r\n\r\n"),
    ("/a", "::1", 8080, "http", {"host": "other", "Accept-Encoding": "gzip"},
     b"GET /a HTTP/1.1\r\nhost: other\r\nAccept-Encoding: gzip\r\n\r\n"),
])
def test_request_bytes_as_http_client_sends_them(target, host, port, scheme, headers, wire):
    assert _http_poll.request_bytes(target, host, port, scheme, headers) == wire


@pytest.mark.parametrize("target, headers, error", [
    ("/a b", {}, "InvalidURL"),
    ("/a\r\nX: 1", {}, "InvalidURL"),
    ("/caf\u00e9", {}, "UnicodeEncodeError"),
    ("/", {"X-A": "1\r\nX-B: 2"}, "ValueError"),
    ("/", {"X-A\n": "1"}, "ValueError"),
])
def test_request_bytes_refuses_what_would_split_the_request(target, headers, error):
    with pytest.raises(Exception) as caught:
        _http_poll.request_bytes(target, "127.0.0.1", 80, "http", headers)
    assert type(caught.value).__name__ == error


@pytest.mark.parametrize("head, parsed", [
    (b"HTTP/1.1 200 OK\r\nX-Backend: 127.0.0.1:7001\r\nContent-Length: 5",
     ("HTTP/1.1", 200, {"x-backend": "127.0.0.1:7001", "content-length": "5"})),
    (b"HTTP/1.0 404", ("HTTP/1.0", 404, {})),
    (b"HTTP/1.1 200 OK\r\nx-backend: a\r\nX-BACKEND:b \r\nnot a header", ("HTTP/1.1", 200, {"x-backend": "a, b"})),
])
def test_parse_head(head, parsed):
    assert _http_poll.parse_head(head) == parsed


@pytest.mark.parametrize("head", [b"", b"SSH-2.0-OpenSSH_9.2", b"HTTP/1.1 2000 OK", b"HTTP/1.1 OK"])
def test_parse_head_refuses_a_bad_status_line(head):
    with pytest.raises(_http_poll.http.client.BadStatusLine):
        _http_poll.parse_head(head)


class _Transport:
    def __init__(self):
        self.aborted = False

    def write(self, data):
        pass

    def abort(self):
        self.aborted = True


class _Future:
    def __init__(self):
        self.outcome = None

    def done(self):
        return self.outcome is not None

    def set_result(self, value):
        self.outcome = value

    set_exception = set_result


class _Loop:
    """The part of an event loop a _Connection uses, without a socket (the
    unit tests open none): a clock that stands still, futures, timers."""

    def time(self):
        return 0.0

    def create_future(self):
        return _Future()

    def call_at(self, when, callback):
        return None


def answer(wire):
    """What a _Connection makes of `wire` (bytes a server sent for one GET):
    the response, or the exception the request fails with."""
    connection = _http_poll._Connection(_Loop())
    connection.connection_made(_Transport())
    waiter = connection.send(b"GET / HTTP/1.1\r\n\r\n", 5.0)
    connection.data_received(wire)
    assert waiter.done(), "no verdict on a complete answer"
    return waiter.outcome


def chunked(*chunks, sizes=None):
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    body = b"".join(b"%s\r\n%s\r\n" % (size, data) for size, data in zip(sizes, chunks))
    return head + body + b"0\r\n\r\n"


@pytest.mark.parametrize("size, data", [
    (b"-7", 300000), (b"-100", 300000), (b"-1", 300000), (b"-2", 300000),   # -7 read 300 KB past the limit
    (b"0x10", 16), (b"0X10", 16), (b"+10", 16), (b"1_0", 16), (b"\xef\xbc\x91", 1), (b"", 0), (b"1 0", 16),
    (b"10000000000000000", 300000), (b"0x", 0),
])
def test_a_chunk_size_is_hex_digits_only(size, data):
    wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%s\r\n%s\r\n0\r\n\r\n" % (size, b"x" * data)
    failure = answer(wire)
    assert isinstance(failure, http.client.IncompleteRead), failure


@pytest.mark.parametrize("size, body", [(b"10", b"x" * 16), (b"a", b"y" * 10), (b"A;ext=1", b"z" * 10),
                                        (b"010 ", b"w" * 16)])
def test_a_chunk_size_in_hex_is_read(size, body):
    response = answer(chunked(body, sizes=[size]))
    assert response.status == 200 and response.body == body and not response.truncated


def test_a_huge_chunk_stops_at_the_body_limit():
    response = answer(chunked(b"x" * 300000, sizes=[b"%x" % 300000]))
    assert len(response.body) == _http_poll.BODY_LIMIT and response.truncated


@pytest.mark.parametrize("length", ["-1", "+5", "0x5", "5 5", "5, 5", "５", "\u00b2", "", "1" * 19])
def test_a_content_length_is_decimal_digits_only(length):
    wire = ("HTTP/1.1 200 OK\r\nContent-Length: %s\r\n\r\n" % length).encode("utf-8") + b"x" * 100
    assert isinstance(answer(wire), http.client.HTTPException)


@pytest.mark.parametrize("interim", [1, 2, 10, 1000, 2000])
def test_interim_responses_are_skipped_in_a_loop_within_the_head_limit(interim):
    one = b"HTTP/1.1 100 Continue\r\n\r\n"
    final = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Backend: a:1\r\n\r\nok"
    outcome = answer(one * interim + final)
    if len(one) * interim <= _http_poll.HEAD_LIMIT:
        assert outcome.status == 200 and outcome.body == b"ok" and outcome.headers["x-backend"] == "a:1"
    else:
        assert isinstance(outcome, http.client.LineTooLong), outcome


@pytest.mark.parametrize("status", [b"1\xb2\xb2", b"099", b"+20", b"2000", b"20"])
def test_a_status_is_three_ascii_digits(status):
    with pytest.raises(http.client.BadStatusLine):
        _http_poll.parse_head(b"HTTP/1.1 " + status + b" OK")


@pytest.mark.parametrize("set_cookie, value", [
    ("srv=abc123; Expires=Sat, 05 Dec 2026 07:00:00 GMT; Path=/", "abc123"),
    ("other=1; Path=/, srv=0f; HttpOnly", "0f"),
    ("xsrv=1", None),
    ("", None),
    (None, None),
])
def test_cookie_value_finds_the_named_cookie(set_cookie, value):
    assert _http_poll.cookie_value(set_cookie, "srv") == value
