"""load_balancer_sites through a private nginx on loopback: the role's
template renders three sites (two with their own certificates, one plain),
nginx -t accepts it, each name reaches its own backends, a name no site has
gets nothing of a site's (444 over http, 421 and another certificate over
TLS), and each location option does what it says (rate limit, body size,
allow, redirect, return, real client address, JSON log)."""

import http.client
import http.server
import json
import socket
import ssl
import subprocess
import threading
import time

import pytest

from ansible_collections.edgeops.nginx_lb.plugins.module_utils._nginx_check import check_candidate

from helpers.localnet import NGINX, free_port, needs_nginx
from helpers.nginx_proc import running_nginx
from test_load_balancer_render import render

NAMES = ("shop", "api", "plain")


class _Named(http.server.BaseHTTPRequestHandler):
    """Answers with its name, the path and the headers it got, as JSON."""
    protocol_version = "HTTP/1.1"

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        body = json.dumps({"name": self.server.name, "path": self.path, "headers": dict(self.headers)}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args):
        pass


def _backend(name):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Named)
    server.name = name
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _pair(tls_dir, stem, name):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-days", "2", "-subj", "/CN=%s" % name, "-addext", "subjectAltName=DNS:%s" % name,
                    "-keyout", str(tls_dir / (stem + ".key")), "-out", str(tls_dir / (stem + ".crt"))],
                   check=True, capture_output=True, timeout=60)


def site_vars(plain, secure, tmp_path):
    listen = "127.0.0.1:%d" % plain
    return [
        {"name": "shop", "server_names": ["shop.example.test"], "listen": [listen],
         "tls": {"mode": "selfsigned", "port": secure, "redirect": False, "http2": False},
         "access_log": str(tmp_path / "shop.log"),
         "locations": [{"path": "/", "upstream": "shop"},
                       {"path": "/old", "redirect": {"to": "/new", "code": 302}},
                       {"path": "/limited", "upstream": "shop", "rate_limit": {"rate": "5r/s", "burst": 5}},
                       {"path": "/upload", "upstream": "shop", "client_max_body_size": "1k"},
                       {"path": "/private", "upstream": "shop", "allow": ["10.0.0.0/8"]},
                       {"path": "/events", "upstream": "shop", "buffering": False, "proxy_read_timeout": "1h"}]},
        {"name": "api", "server_names": ["api.example.test"], "listen": [listen],
         "tls": {"mode": "selfsigned", "port": secure, "redirect": True, "http2": False},
         "access_log": str(tmp_path / "api.log"), "log_format": "json",
         "locations": [{"path": "/", "upstream": "api", "headers": {"X-Site": "api"}},
                       {"path": "/health", "return": {"code": 200, "body": "ok"}},
                       {"path": "/ws", "upstream": "api", "websocket": True}]},
        {"name": "plain", "server_names": ["plain.example.test"], "listen": [listen],
         "access_log": str(tmp_path / "plain.log"),
         "real_ip": {"from": ["127.0.0.0/8"], "header": "X-Forwarded-For"},
         "locations": [{"path": "/", "upstream": "plain"}]},
    ]


@pytest.fixture(scope="module")
def edge(tmp_path_factory):
    """A private nginx serving the three sites, with a backend per site."""
    tmp_path = tmp_path_factory.mktemp("sites")
    tls_dir = tmp_path / "tls"
    tls_dir.mkdir()
    for stem, name in (("site_shop", "shop.example.test"), ("site_api", "api.example.test"),
                       ("catch_all", "invalid")):
        _pair(tls_dir, stem, name)
    backends = {name: _backend(name) for name in NAMES}
    plain, secure = free_port(), free_port()
    upstreams = [{"name": name, "servers": [{"address": "127.0.0.1:%d" % backend.server_port}]}
                 for name, backend in backends.items()]
    proc, text = render(tmp_path, load_balancer_upstreams=upstreams, load_balancer_sites=site_vars(plain, secure, tmp_path),
                        load_balancer_tls_dir=str(tls_dir), load_balancer_access_log_buffer="")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (tmp_path / "nginx.conf").write_text(
        "pid %s/nginx.pid;\nerror_log %s/error.log;\nevents { }\nhttp {\n include %s/upstream.conf;\n}\n"
        % (tmp_path, tmp_path, tmp_path))
    try:
        with running_nginx(tmp_path / "nginx.conf", tmp_path, [plain, secure]):
            yield {"plain": plain, "secure": secure, "text": text, "tmp": tmp_path, "tls": tls_dir}
    finally:
        for backend in backends.values():
            backend.shutdown()


def _get(port, host, path="/", method="GET", body=None, headers=None, tls_name=None, tls_dir=None):
    """(status, headers, body) of one request; over TLS with `tls_name` as SNI."""
    if tls_name is not None:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=5, context=context)
        conn.sock = context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5),
                                        server_hostname=tls_name)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(method, path, body=body, headers=dict(headers or {}, Host=host))
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        conn.close()


def _served_certificate(port, sni):
    """The subject CN of the certificate nginx offers for `sni`."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5), server_hostname=sni) as sock:
        der = sock.getpeercert(binary_form=True)
    pem = ssl.DER_cert_to_PEM_cert(der)
    out = subprocess.run(["openssl", "x509", "-noout", "-subject"], input=pem, capture_output=True, text=True,
                         check=True, timeout=30).stdout
    return out.strip().rsplit("=", 1)[-1].strip()


@needs_nginx
def test_nginx_accepts_the_rendered_sites(edge):
    result = check_candidate(edge["text"], NGINX, shown_name="upstream.conf")
    assert result.valid, result.output
    assert edge["text"].count("\nserver {") == 6  # 3 sites, api's redirect, the two catch-alls


@needs_nginx
@pytest.mark.parametrize("name", NAMES)
def test_each_name_reaches_its_own_backends(edge, name):
    if name == "plain":
        status, dummy, body = _get(edge["plain"], "plain.example.test")
    else:
        status, dummy, body = _get(edge["secure"], "%s.example.test" % name, tls_name="%s.example.test" % name)
    assert status == 200 and json.loads(body)["name"] == name


@needs_nginx
def test_sni_chooses_each_sites_certificate_and_never_for_an_unknown_name(edge):
    assert _served_certificate(edge["secure"], "shop.example.test") == "shop.example.test"
    assert _served_certificate(edge["secure"], "api.example.test") == "api.example.test"
    assert _served_certificate(edge["secure"], "unknown.example.test") == "invalid"


@needs_nginx
def test_an_unknown_name_gets_421_over_tls_and_a_closed_connection_over_http(edge):
    status, dummy, body = _get(edge["secure"], "unknown.example.test", tls_name="unknown.example.test")
    assert status == 421 and "name" not in body
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        _get(edge["plain"], "unknown.example.test")


@needs_nginx
def test_a_site_with_redirect_sends_plain_http_to_https_and_others_serve_http(edge):
    status, headers, dummy = _get(edge["plain"], "api.example.test", "/x?y=1")
    assert status == 301 and headers["Location"] == "https://api.example.test:%d/x?y=1" % edge["secure"]
    status, dummy, body = _get(edge["plain"], "shop.example.test")
    assert status == 200 and json.loads(body)["name"] == "shop"


@needs_nginx
def test_rate_limit_answers_429_past_rate_and_burst(edge, figure):
    started = time.monotonic()
    statuses = [_get(edge["plain"], "shop.example.test", "/limited")[0] for dummy in range(50)]
    elapsed = time.monotonic() - started
    figure("rate_limit 5r/s burst 5, 50 requests in %.2f s: 200 / 429" % elapsed,
           "%d / %d" % (statuses.count(200), statuses.count(429)))
    assert set(statuses) == {200, 429}
    # The first request and the burst of 5 pass at once, then one per 200 ms of the loop.
    assert 6 <= statuses.count(200) <= 6 + int(elapsed * 5) + 1


@needs_nginx
def test_location_options(edge):
    shop = dict(tls_name="shop.example.test")
    assert _get(edge["secure"], "shop.example.test", "/upload", "POST", b"x" * 2048, **shop)[0] == 413
    assert _get(edge["secure"], "shop.example.test", "/upload", "POST", b"x" * 512, **shop)[0] == 200
    assert _get(edge["secure"], "shop.example.test", "/private", **shop)[0] == 403
    status, headers, dummy = _get(edge["secure"], "shop.example.test", "/old", **shop)
    assert status == 302 and headers["Location"].endswith("/new")
    status, dummy, body = _get(edge["secure"], "api.example.test", "/health", tls_name="api.example.test")
    assert (status, body) == (200, "ok")
    status, dummy, body = _get(edge["secure"], "api.example.test", "/ws/x", tls_name="api.example.test")
    seen = json.loads(body)
    # A plain request through a WebSocket location keeps upstream keep-alive (no Connection: upgrade).
    assert seen["path"] == "/x" and "Upgrade" not in seen["headers"]
    # The location's own header, and the server block's (repeated: a location's proxy_set_header drops them).
    status, dummy, body = _get(edge["secure"], "api.example.test", "/", tls_name="api.example.test")
    headers = json.loads(body)["headers"]
    assert headers["X-Site"] == "api" and headers["Host"] == "api.example.test" and "X-Forwarded-For" in headers


@needs_nginx
def test_real_ip_and_json_log(edge):
    status, dummy, body = _get(edge["plain"], "plain.example.test", headers={"X-Forwarded-For": "198.51.100.7"})
    assert json.loads(body)["headers"]["X-Real-IP"] == "198.51.100.7"
    _get(edge["secure"], "api.example.test", "/", tls_name="api.example.test")
    line = (edge["tmp"] / "api.log").read_text().splitlines()[-1]
    entry = json.loads(line)
    assert entry["status"] == 200 and entry["host"] == "api.example.test" and entry["upstream_addr"].startswith("127.0.0.1:")
