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
