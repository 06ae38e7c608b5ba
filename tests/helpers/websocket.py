"""A WebSocket client for tests (RFC 6455), standard library only: the
handshake, masked frames out, frames in. Every read is bounded by the
socket's timeout and every frame by `max_size`; nothing here loops without
a bound. Usable from molecule verifiers: import it or copy it."""

import base64
import hashlib
import os
import socket
import struct

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class Closed(Exception):
    """The server closed the TCP connection before a whole frame or head came."""


def accept_for(key):
    """The Sec-WebSocket-Accept a server must answer to `key` (bytes)."""
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


class Client:
    """One connection: Client(host, port) connects; handshake() upgrades it."""

    def __init__(self, host, port, timeout=5.0, max_size=1 << 20):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.host, self.port, self.max_size = host, port, max_size
        self.data = b""

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _more(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise Closed("the server closed the connection")
        self.data += chunk

    def _take(self, size):
        while len(self.data) < size:
            self._more()
        taken, self.data = self.data[:size], self.data[size:]
        return taken

    def request(self, path="/ws", key=None, headers=None):
        """Send an upgrade request (`headers` replace or, with value None, drop the usual ones); its key."""
        key = base64.b64encode(os.urandom(16)) if key is None else key
        fields = {"Host": "%s:%d" % (self.host, self.port), "Upgrade": "websocket", "Connection": "Upgrade",
                  "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": key.decode("latin-1")}
        fields.update(headers or {})
        lines = ["GET %s HTTP/1.1" % path] + ["%s: %s" % (k, v) for k, v in fields.items() if v is not None]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        return key

    def response_head(self):
        """(status, {lower-case name: value}) of the response head; the body, if any, stays unread."""
        while b"\r\n\r\n" not in self.data:
            if len(self.data) > 65536:
                raise ValueError("response head over 64 KiB")
            self._more()
        head, self.data = self.data.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        fields = {}
        for line in lines[1:]:
            name, dummy, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        return int(lines[0].split(" ")[1]), fields

    def response_body(self, fields):
        """The body after response_head() of a refused upgrade (its Content-Length, at most 64 KiB)."""
        length = int(fields.get("content-length", "0"))
        if length > 65536:
            raise ValueError("response body over 64 KiB")
        return self._take(length)

    def handshake(self, path="/ws"):
        """Upgrade; the 101's fields. AssertionError unless the server accepted with the right key."""
        key = self.request(path)
        status, fields = self.response_head()
        assert status == 101, (status, fields)
        assert fields.get("sec-websocket-accept", "").encode() == accept_for(key), fields
        assert fields.get("upgrade", "").lower() == "websocket", fields
        return fields

    def send(self, opcode, payload=b"", fin=True, mask=True, rsv=0):
        """One frame, masked as a client's must be (mask=False to send a bad one)."""
        size = len(payload)
        first = (0x80 if fin else 0) | rsv << 4 | opcode
        masked = 0x80 if mask else 0
        if size < 126:
            head = struct.pack("!BB", first, masked | size)
        elif size < 65536:
            head = struct.pack("!BBH", first, masked | 126, size)
        else:
            head = struct.pack("!BBQ", first, masked | 127, size)
        if mask:
            key = os.urandom(4)
            repeated = (key * (size // 4 + 1))[:size]
            payload = (int.from_bytes(payload, "little") ^ int.from_bytes(repeated, "little")).to_bytes(size, "little")
            head += key
        self.sock.sendall(head + payload)

    def receive(self):
        """(fin, opcode, payload) of the next frame; server frames are unmasked, at most max_size bytes."""
        first, second = self._take(2)
        size = second & 0x7F
        if second & 0x80:
            raise ValueError("a server frame is masked")
        if size == 126:
            size = struct.unpack("!H", self._take(2))[0]
        elif size == 127:
            size = struct.unpack("!Q", self._take(8))[0]
        if size > self.max_size:
            raise ValueError("a frame of %d bytes, over %d" % (size, self.max_size))
        return bool(first & 0x80), first & 0x0F, self._take(size)

    def close_code(self):
        """The code of the close frame that comes next (at most 100 frames before it skipped), None if it has none."""
        for dummy in range(100):
            fin, opcode, payload = self.receive()
            if opcode == CLOSE:
                return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
        raise ValueError("no close frame in 100 frames")

    def closed(self):
        """True once the server closed the TCP connection (EOF or reset), False at the socket's timeout."""
        try:
            while True:
                self._more()
                self.data = b""
        except (Closed, ConnectionResetError):
            return True
        except socket.timeout:
            return False
