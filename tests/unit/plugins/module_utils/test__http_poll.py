"""The poller's pure parts: credentials never shown."""

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
