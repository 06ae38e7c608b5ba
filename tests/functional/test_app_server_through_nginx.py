"""The app server's /ws and /events through a private nginx on loopback,
round robin over two app server processes: what a load balancer test can
count. The server block is the role's (HTTP/1.1 upstream keepalive, an empty
Connection header); /ws adds the usual WebSocket proxy fields."""

import re
import signal
import socket
import subprocess
import time

import pytest

from helpers.localnet import NGINX, free_port, needs_nginx, wait_for_port
from helpers.processes import AppServerProcess
from helpers.websocket import TEXT, Client

CONFIG = """pid {tmp}/nginx.pid; error_log {tmp}/error.log; worker_processes 1;
events {{ }}
http {{
  access_log off;
  map $http_upgrade $connection_upgrade {{ default upgrade; '' ''; }}
  upstream app {{ {servers} keepalive 8; }}
  server {{
    listen 127.0.0.1:{listen};
    proxy_http_version 1.1; proxy_set_header Connection "";
    location / {{ proxy_pass http://app; }}
    location /ws {{
      proxy_pass http://app;
      proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection $connection_upgrade;
    }}
    location /role-ws {{ rewrite ^ /ws break; proxy_pass http://app; }}
  }}
}}
"""


@pytest.fixture(scope="module")
def lb(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lb")
    apps = [AppServerProcess(), AppServerProcess()]
    listen = free_port()
    servers = "".join("server 127.0.0.1:%d; " % app.port for app in apps)
    (tmp / "nginx.conf").write_text(CONFIG.format(tmp=tmp, servers=servers, listen=listen))
    nginx = subprocess.Popen([NGINX, "-p", str(tmp) + "/", "-c", str(tmp / "nginx.conf"), "-g", "daemon off;"])
    try:
        assert wait_for_port(listen), (tmp / "error.log").read_text()
        yield {"port": listen, "backends": {"%s:%d" % (socket.gethostname(), app.port) for app in apps}}
    finally:
        nginx.send_signal(signal.SIGTERM)
        nginx.wait(timeout=10)
        for app in apps:
            app.stop()
    for app in apps:
        assert "Traceback" not in app.stderr()


@needs_nginx
def test_websocket_echo_through_nginx_reaches_both_backends(lb):
    seen = []
    for number in range(4):
        with Client("127.0.0.1", lb["port"], timeout=5) as ws:
            seen.append(ws.handshake()["x-backend"])
            ws.send(TEXT, b"through nginx %d" % number)
            assert ws.receive() == (True, TEXT, b"through nginx %d" % number)
    assert set(seen) == lb["backends"] and seen.count(seen[0]) == 2


@needs_nginx
def test_without_the_upgrade_fields_nginx_forwards_the_app_refuses_naming_the_field(lb):
    with Client("127.0.0.1", lb["port"], timeout=5) as ws:
        ws.request("/role-ws")
        status, fields = ws.response_head()
        assert status == 400
        assert ws.response_body(fields) == b"websocket upgrade: Upgrade: must list websocket\n"


@needs_nginx
def test_events_through_nginx_come_one_at_a_time(lb, figure):
    """Each event passes nginx when the app sends it."""
    seen = []
    for dummy in range(2):
        with socket.create_connection(("127.0.0.1", lb["port"]), timeout=5) as sock:
            sock.sendall(b"GET /events?count=3&interval_ms=250 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            data, arrivals = b"", []
            for dummy in range(100):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
                arrivals += [time.monotonic()] * (data.count(b"data: ") - len(arrivals))
        events = re.findall(rb"data: (\S+) (\d)\n\n", data)
        assert [int(n) for dummy, n in events] == [1, 2, 3] and len({backend for backend, dummy in events}) == 1
        assert b"\r\ncache-control: no-cache\r\n" in data.lower() and b"text/event-stream" in data
        gaps = [later - earlier for earlier, later in zip(arrivals, arrivals[1:])]
        figure("/events through nginx, gaps ms", [round(1000 * gap) for gap in gaps])
        assert len(gaps) == 2 and all(gap >= 0.15 for gap in gaps), gaps  # 250 ms, less a busy machine's lag
        seen.append(events[0][0].decode())
    assert set(seen) == lb["backends"]
