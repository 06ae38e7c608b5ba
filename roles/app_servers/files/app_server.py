"""The tutorial's app server, one port per process (app-server@PORT.service).

Standard library only. Unlike the tutorial's HTTPServer it is threaded,
speaks HTTP/1.1 keep-alive with TCP_NODELAY (no Nagle stall on small
responses), has a deep listen backlog, escapes what it reflects, and says who
answered: header `X-Backend: HOSTNAME:PORT`.
"""

import argparse
import html
import json
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PAGE = """<!DOCTYPE html>
<html>
    <head>
        <style> h1 {{ font-size:100px; text-align:center; margin-left:auto; margin-right:auto }}
                p {{ font-size:20px; text-align:center; }}
        </style>
        <title>{title}</title>
    </head>
<body><h1>{port}</h1><h1>{time}</h1></body></html>
"""


class AppHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "edgeops-app-server"
    sys_version = ""

    def do_GET(self):
        port = self.server.server_address[1]
        if self.server.latency_s:
            time.sleep(self.server.latency_s)
        if self.path == "/healthz" or self.path.startswith("/healthz?"):
            self._send(200, b"ok\n", "text/plain; charset=utf-8")
            return
        now = time.strftime("%X")
        if "application/json" in (self.headers.get("Accept") or ""):
            body = json.dumps({"host": self.server.hostname, "port": port, "time": now}).encode()
            self._send(200, body, "application/json")
            return
        title = html.escape(self.headers.get("Host") or "", quote=True)
        body = PAGE.format(title=title, port=port, time=now).encode()
        self._send(200, body, "text/html; charset=utf-8")

    do_HEAD = do_GET

    def _send(self, status, body, content_type):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Backend", self.server.backend)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format, *args):  # noqa: A002 - BaseHTTPRequestHandler's signature
        if self.server.access_log:
            sys.stdout.write("%s %s\n" % (self.client_address[0], format % args))
            sys.stdout.flush()


class AppServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024

    def __init__(self, address, latency_ms=0, access_log=False):
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, AppHandler)
        self.hostname = socket.gethostname()
        self.backend = "%s:%d" % (self.hostname, self.server_address[1])
        self.latency_s = latency_ms / 1000.0
        self.access_log = access_log

    def get_request(self):
        connection, address = super().get_request()
        # Small responses would otherwise wait for the peer's delayed ACK.
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection, address


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--access-log", action="store_true")
    args = parser.parse_args(argv)

    server = AppServer((args.bind, args.port), args.latency_ms, args.access_log)

    def stop(signum, frame):
        # shutdown() waits for serve_forever(), so call it from another thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("app server started on %s:%d (latency %d ms)" % (args.bind, args.port, args.latency_ms), flush=True)
    server.serve_forever()
    server.server_close()
    print("app server on %s:%d stopped" % (args.bind, args.port), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
