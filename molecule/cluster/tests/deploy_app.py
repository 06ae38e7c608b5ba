"""A stand-in for "your own program" in the deploy tests: deployed with
app_servers_program and app_servers_command, started per port by the role's
launcher. `--mode unhealthy`: the health path answers 503 (a release that must
not go live); `--mode errors`: every other request answers 500 (a canary that
must be rolled back). Standard library only."""

import argparse
import http.server
import itertools
import socket


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["unhealthy", "errors"], required=True)
    parser.add_argument("--bind", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--health-path", required=True)
    args = parser.parse_args()
    backend = "%s:%d" % (socket.gethostname(), args.port)
    answered = itertools.count()  # next() is atomic under the GIL: the handler threads share it

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):  # noqa: N802 (http.server's name)
            healthy = args.mode == "errors"
            if self.path.split("?")[0] == args.health_path:
                status = 200 if healthy else 503
            else:
                status = 500 if args.mode == "errors" and next(answered) % 2 == 0 else 200
            body = b"broken on purpose\n"
            self.send_response(status)
            self.send_header("X-Backend", backend)
            self.send_header("X-App-Version", args.version)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *dummy):
            pass

    server = http.server.ThreadingHTTPServer((args.bind, args.port), Handler)
    server.serve_forever()


if __name__ == "__main__":
    main()
