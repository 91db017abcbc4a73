"""gRPC-over-HTTP/2 wire details shared by every attack: status codes, message framing,
request headers and the decoding of grpc-message."""
import struct
import urllib.parse

STATUS_NAMES = [
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
    "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",
    "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
]
OK, CANCELLED, UNKNOWN, INVALID_ARGUMENT, DEADLINE_EXCEEDED = 0, 1, 2, 3, 4
RESOURCE_EXHAUSTED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, UNAUTHENTICATED = 8, 12, 13, 14, 16

# HTTP/2 error codes (RFC 9113 section 7), for RST_STREAM and GOAWAY.
H2_ERRORS = [
    "NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT",
    "STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL", "COMPRESSION_ERROR",
    "CONNECT_ERROR", "ENHANCE_YOUR_CALM", "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED",
]
REFUSED_STREAM, CANCEL = 7, 8

HEALTH_CHECK = "/grpc.health.v1.Health/Check"
HEALTH_WATCH = "/grpc.health.v1.Health/Watch"
# HealthCheckRequest{service: ""} serializes to zero bytes.
EMPTY_MESSAGE = b""


def status_name(code: int) -> str:
    return STATUS_NAMES[code] if 0 <= code < len(STATUS_NAMES) else f"STATUS_{code}"


def h2_error_name(code: int) -> str:
    return H2_ERRORS[code] if 0 <= code < len(H2_ERRORS) else f"0x{code:x}"


def frame(message: bytes, compressed: bool = False, declared_length: int | None = None) -> bytes:
    """One length-prefixed message; `declared_length` lets an attack lie about the length."""
    length = len(message) if declared_length is None else declared_length
    return struct.pack(">BI", 1 if compressed else 0, length & 0xFFFFFFFF) + message


def unframe(data: bytes) -> list[bytes]:
    """The messages of a response body (trailing partial bytes are ignored)."""
    messages, offset = [], 0
    while offset + 5 <= len(data):
        _, length = struct.unpack_from(">BI", data, offset)
        messages.append(data[offset + 5:offset + 5 + length])
        offset += 5 + length
    return messages


def request_headers(authority: str, path: str, metadata: list[tuple[str, str]] = (),
                    timeout: str | None = None) -> list[tuple[bytes, bytes]]:
    """Headers of a gRPC request, pseudo-headers first; values may be deliberately malformed."""
    headers = [
        (b":method", b"POST"), (b":scheme", b"http"), (b":path", path.encode()),
        (b":authority", authority.encode()), (b"content-type", b"application/grpc"), (b"te", b"trailers"),
    ]
    if timeout is not None:
        headers.append((b"grpc-timeout", timeout.encode("utf-8", "surrogateescape")))
    for key, value in metadata:
        headers.append((key.encode(), value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value))
    return headers


def decode_message(raw: bytes | str) -> str:
    """grpc-message is percent-encoded UTF-8 (PROTOCOL-HTTP2.md)."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return urllib.parse.unquote(text, errors="replace")
