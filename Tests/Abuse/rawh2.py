"""HTTP/2 frames written by hand, for attacks no HTTP/2 library will send: rapid reset at full
speed, endless CONTINUATION, header blocks that decode to megabytes, half-open connections.

Only what the attacks need: the client preface, frame serialization, and a non-blocking reader
that reports the frames the server sends back (GOAWAY, RST_STREAM, HEADERS) and whether it closed
the connection.
"""
from __future__ import annotations

import socket
import struct

import hpack

import wire

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 0, 1, 3, 4, 6, 7, 8, 9
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1


def frame(kind: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream_id & 0x7FFFFFFF) + payload


def settings_frame(values: dict[int, int] | None = None) -> bytes:
    payload = b"".join(struct.pack(">HI", key, value) for key, value in (values or {}).items())
    return frame(SETTINGS, 0, 0, payload)


def rst_stream(stream_id: int, code: int = 8) -> bytes:
    return frame(RST_STREAM, 0, stream_id, struct.pack(">I", code))


def header_block(headers: list[tuple[bytes, bytes]]) -> bytes:
    """An HPACK block that leaves the decoder's dynamic table untouched (every field a literal
    "never indexed" or a static-table reference), so the same bytes can be sent again and again."""
    encoder = hpack.Encoder()
    return encoder.encode([hpack.NeverIndexedHeaderTuple(name, value) for name, value in headers])


class RawConnection:
    def __init__(self, host: str, port: int, timeout: float = 3.0, preface: bool = True):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""
        self.closed = False
        self.close_error = ""
        self.goaway: tuple[int, int, bytes] | None = None   # (last stream id, code, debug data)
        self.resets: dict[int, int] = {}                      # stream id -> code
        self.responses: dict[int, list[tuple[bytes, bytes]]] = {}   # stream id -> decoded headers
        self.decoder = hpack.Decoder()
        self.decoder.max_header_list_size = 1 << 20
        self.remote_settings: dict[int, int] = {}
        if preface:
            self.send(PREFACE + settings_frame())

    def send(self, data: bytes) -> bool:
        """Writes everything; False once the server has closed the connection."""
        if self.closed:
            return False
        try:
            self.sock.sendall(data)
            return True
        except OSError as error:
            self._closed(str(error))
            return False

    def _closed(self, why: str) -> None:
        self.closed = True
        self.close_error = self.close_error or why

    def poll(self, timeout: float = 0.0) -> None:
        """Reads what has arrived (waiting up to `timeout`) and records GOAWAY, RST_STREAM,
        HEADERS and SETTINGS; acknowledges SETTINGS and PING like any client."""
        if self.closed:
            return
        self.sock.settimeout(timeout if timeout > 0 else 0.0)
        try:
            while True:
                chunk = self.sock.recv(1 << 16)
                if not chunk:
                    self._closed("closed by server")
                    break
                self.buffer += chunk
                self.sock.settimeout(0.0)
        except (BlockingIOError, socket.timeout):
            pass
        except OSError as error:
            self._closed(str(error))
        self._parse()

    def _parse(self) -> None:
        while len(self.buffer) >= 9:
            length = int.from_bytes(self.buffer[:3], "big")
            if len(self.buffer) < 9 + length:
                break
            kind, flags = self.buffer[3], self.buffer[4]
            stream_id = int.from_bytes(self.buffer[5:9], "big") & 0x7FFFFFFF
            payload = self.buffer[9:9 + length]
            self.buffer = self.buffer[9 + length:]
            if kind == GOAWAY and len(payload) >= 8:
                last, code = struct.unpack(">II", payload[:8])
                self.goaway = (last & 0x7FFFFFFF, code, payload[8:])
            elif kind == RST_STREAM and len(payload) == 4:
                self.resets[stream_id] = struct.unpack(">I", payload)[0]
            elif kind == HEADERS:
                block = payload
                if flags & 0x8:       # PADDED
                    block = block[1:len(block) - block[0]]
                if flags & 0x20:      # PRIORITY
                    block = block[5:]
                try:
                    self.responses.setdefault(stream_id, []).extend(self.decoder.decode(block, raw=True))
                except Exception as error:  # a block split over CONTINUATION frames: report it as seen
                    self.responses.setdefault(stream_id, []).append((b"x-undecodable", str(error).encode()))
            elif kind == SETTINGS and not flags & ACK:
                for offset in range(0, len(payload) - 5, 6):
                    key, value = struct.unpack(">HI", payload[offset:offset + 6])
                    self.remote_settings[key] = value
                self.send(frame(SETTINGS, ACK, 0))
            elif kind == PING and not flags & ACK:
                self.send(frame(PING, ACK, 0, payload))

    def status_of(self, stream_id: int) -> str:
        """How a stream was answered: grpc-status, HTTP status, RST_STREAM, or nothing yet."""
        headers = dict(self.responses.get(stream_id, []))
        if b"grpc-status" in headers:
            code = int(headers[b"grpc-status"]) if headers[b"grpc-status"].isdigit() else -1
            message = wire.decode_message(headers.get(b"grpc-message", b""))
            return wire.status_name(code) + (f": {message[:120]!r}" if message else "")
        if stream_id in self.resets:
            return f"RST_STREAM {wire.h2_error_name(self.resets[stream_id])}"
        if b":status" in headers:
            return f"HTTP {headers[b':status'].decode()} without grpc-status"
        return "no answer"

    def describe_end(self) -> str:
        if self.goaway:
            last, code, debug = self.goaway
            text = f"GOAWAY {wire.h2_error_name(code)} (last stream {last}"
            return text + (f", {debug[:80]!r})" if debug else ")")
        if self.closed:
            return f"connection closed ({self.close_error})"
        return "connection open"

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
        self.closed = True
