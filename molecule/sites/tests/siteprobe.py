"""Requests to the sites, run INSIDE a container of the scenario (its
python3, standard library only) as `python3 - COMMAND ARGS...` with this
file on stdin; prints one JSON answer. Every loop is bounded in count and
time, every socket has a timeout. Targets: the LB's loopback or its address
on the scenario's own network.

  count ADDRESS PORT HOST TLS N PATH   X-Backend counts of N GETs (TLS: 1 = https with SNI HOST, verified
                                       against /etc/nginx/tls/site_HOSTLABEL.crt when present)
  cert ADDRESS PORT SNI                the subject CN of the certificate offered for SNI
  get ADDRESS PORT HOST TLS PATH [METHOD BODYSIZE]  status and Location of one request ('closed' if none)
  burst ADDRESS PORT HOST TLS N PATH   statuses of N requests sent at once (threads)
  ws ADDRESS PORT HOST TLS PATH TEXT   WebSocket: 101, X-Backend, the echo of TEXT, the close code
  events ADDRESS PORT HOST TLS PATH    server-sent events: each chunk's arrival time and text
  proxied ADDRESS PORT HOST CLIENT N   N GETs after a PROXY v1 header naming CLIENT as the client
"""

import base64
import hashlib
import json
import os
import socket
import ssl
import struct
import sys
import threading
import time

TIMEOUT = 5
DEADLINE = time.monotonic() + 60


def connect(address, port, host, tls):
    sock = socket.create_connection((address, int(port)), timeout=TIMEOUT)
    if tls == "1":
        context = ssl.create_default_context()
        ca = "/etc/nginx/tls/site_%s.crt" % host.split(".")[0]
        if os.path.exists(ca):
            context.load_verify_locations(ca)
        else:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        sock = context.wrap_socket(sock, server_hostname=host)
    return sock


def read_response(sock):
    """(status, headers, body) of one HTTP/1.1 response; None if closed first."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, dummy, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        while len(body) < int(headers["content-length"]):
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    elif headers.get("transfer-encoding") == "chunked":
        while not body.endswith(b"0\r\n\r\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    return status, headers, body


def request(sock, host, path, method="GET", body=b"", extra=""):
    sock.sendall(("%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n%s\r\n"
                  % (method, path, host, len(body), extra)).encode() + body)
    return read_response(sock)


def count(address, port, host, tls, n, path):
    counts, sock = {}, None
    for dummy in range(int(n)):
        if time.monotonic() > DEADLINE:
            break
        try:
            sock = sock or connect(address, port, host, tls)
            answer = request(sock, host, path)
            key = "closed" if answer is None else (answer[1].get("x-backend", "?") if answer[0] == 200
                                                   else "status %d" % answer[0])
        except (OSError, ValueError) as exc:
            key, sock = "error %s" % type(exc).__name__, None
        counts[key] = counts.get(key, 0) + 1
    return counts


def cert(address, port, sni):
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with context.wrap_socket(socket.create_connection((address, int(port)), timeout=TIMEOUT),
                             server_hostname=sni) as sock:
        der = sock.getpeercert(binary_form=True)
    # The subject's CN: the last CN (the issuer's comes first), a short string after its OID.
    marker = der.rindex(b"\x55\x04\x03")
    length = der[marker + 4]
    return der[marker + 5:marker + 5 + length].decode()


def get(address, port, host, tls, path, method="GET", size="0"):
    try:
        answer = request(connect(address, port, host, tls), host, path, method, b"x" * int(size))
    except (ConnectionError, ssl.SSLError) as exc:
        return {"status": "error %s" % type(exc).__name__}
    if answer is None:
        return {"status": "closed"}
    return {"status": answer[0], "location": answer[1].get("location"), "body": answer[2].decode("latin-1")[:200]}


def burst(address, port, host, tls, n, path):
    statuses = []
    lock = threading.Lock()

    def one():
        try:
            answer = request(connect(address, port, host, tls), host, path)
            status = "closed" if answer is None else answer[0]
        except OSError as exc:
            status = "error %s" % type(exc).__name__
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=one) for dummy in range(int(n))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT * 2)
    return {str(status): statuses.count(status) for status in set(statuses)}


def _frame(opcode, payload):
    mask = os.urandom(4)
    head = bytes([0x80 | opcode])
    if len(payload) < 126:
        head += bytes([0x80 | len(payload)])
    else:
        head += bytes([0x80 | 126]) + struct.pack("!H", len(payload))
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def _read_frame(sock, pending):
    while len(pending) < 2:
        pending += sock.recv(65536)
    opcode, length = pending[0] & 0x0F, pending[1] & 0x7F
    offset = 2
    if length == 126:
        while len(pending) < 4:
            pending += sock.recv(65536)
        length, offset = struct.unpack("!H", pending[2:4])[0], 4
    while len(pending) < offset + length:
        pending += sock.recv(65536)
    return opcode, pending[offset:offset + length], pending[offset + length:]


def ws(address, port, host, tls, path, text):
    sock = connect(address, port, host, tls)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (path, host, key)).encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return {"status": "closed"}
        data += chunk
    head, pending = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = {line.partition(":")[0].strip().lower(): line.partition(":")[2].strip() for line in lines[1:]}
    result = {"status": int(lines[0].split()[1]), "backend": headers.get("x-backend")}
    expected = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
    result["accept_ok"] = headers.get("sec-websocket-accept") == expected.decode()
    if result["status"] != 101:
        return result
    sock.sendall(_frame(0x1, text.encode()))
    opcode, payload, pending = _read_frame(sock, pending)
    result["echo"] = payload.decode() if opcode == 0x1 else "opcode %d" % opcode
    sock.sendall(_frame(0x8, struct.pack("!H", 1000)))
    opcode, payload, pending = _read_frame(sock, pending)
    result["close"] = struct.unpack("!H", payload[:2])[0] if opcode == 0x8 and len(payload) >= 2 else opcode
    return result


def events(address, port, host, tls, path):
    sock = connect(address, port, host, tls)
    sock.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n" % (path, host)).encode())
    started, chunks = time.monotonic(), []
    while time.monotonic() < DEADLINE:
        chunk = sock.recv(65536)
        if not chunk:
            break
        chunks.append([round(time.monotonic() - started, 3), chunk.decode("latin-1")])
        if b"0\r\n\r\n" in chunk:
            break
    return chunks


def proxied(address, port, host, client, n):
    counts = {}
    for dummy in range(int(n)):
        sock = socket.create_connection((address, int(port)), timeout=TIMEOUT)
        source = sock.getsockname()
        sock.sendall(("PROXY TCP4 %s %s 40000 %s\r\n" % (client, address, port)).encode())
        answer = request(sock, host, "/")
        sock.close()
        key = "closed" if answer is None else (answer[1].get("x-backend", "?") if answer[0] == 200
                                               else "status %d" % answer[0])
        counts[key] = counts.get(key, 0) + 1
    counts["sender"] = source[0]
    return counts


if __name__ == "__main__":
    COMMANDS = {"count": count, "cert": cert, "get": get, "burst": burst, "ws": ws, "events": events,
                "proxied": proxied}
    print(json.dumps(COMMANDS[sys.argv[1]](*sys.argv[2:])))
