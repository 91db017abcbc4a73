"""The properties every answer must have, checked on one call's outcome.

- no-unknown-internal: no grpc-status UNKNOWN (2) or INTERNAL (13): every failure we can name has
  a better code, and these two read as "the server is broken".
- status-on-every-stream: a call ends with a grpc-status, not an RST_STREAM, a GOAWAY, a dropped
  connection or silence; the one reset HTTP/2 requires here is PROTOCOL_ERROR for a header value
  HTTP/2 itself forbids (see malformed_in_http2).
- message-bounded: grpc-message is at most MAX_MESSAGE_CHARS characters.
- no-echo: grpc-message repeats at most MAX_ECHO characters of the request, plus the quote marks
  and ellipsis a server wraps a clipped echo in (ECHO_FRAME): when the request is made of those
  very characters, they extend the run without echoing anything more.
"""
from __future__ import annotations

import re

import wire

MAX_MESSAGE_CHARS = 256   # "~200" plus room for a field name
MAX_ECHO = 64
ECHO_FRAME = 3  # `"` before, `…"` after a value clipped to MAX_ECHO characters


def echoed_run(message: str, body: bytes) -> int:
    """Length in characters of the longest stretch of `message` found verbatim in one string of
    the request (the leaves of its protobuf wire format, so a length byte that happens to equal
    the character before an echo does not count), if longer than MAX_ECHO + ECHO_FRAME; 0
    otherwise."""
    if len(message) <= MAX_ECHO + ECHO_FRAME or not body:
        return 0
    best = 0
    for payload in wire.unframe(body) or [body]:
        for leaf in leaves(payload):
            best = max(best, _longest_run(message, leaf))
    return best if best > MAX_ECHO + ECHO_FRAME else 0


def leaves(data: bytes, depth: int = 0) -> list[bytes]:
    """The strings and bytes of a protobuf message, found without a descriptor: a length-delimited
    value is a nested message when it parses as one and is not plain text (ASCII text often
    parses as fields); undecodable input is one leaf."""
    fields = _fields(data)
    if fields is None or (depth > 0 and _plain_text(data)) or depth > 8:
        return [data]
    found: list[bytes] = []
    for value in fields:
        if value is not None:
            found.extend(leaves(value, depth + 1))
    return found


def _plain_text(data: bytes) -> bool:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(char >= " " or char in "\t\n\r" for char in text)


def _varint(data: bytes, index: int) -> tuple[int, int]:
    value, shift = 0, 0
    while index < len(data) and shift < 70:
        byte = data[index]
        index += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, index
    raise ValueError("truncated varint")


def _fields(data: bytes) -> list[bytes | None] | None:
    """The field values of `data` read as protobuf fields (wire types 0, 1, 2, 5): the bytes of
    each length-delimited one, None for the others; None when `data` is no such sequence."""
    values: list[bytes | None] = []
    index = 0
    try:
        while index < len(data):
            key, index = _varint(data, index)
            kind, number = key & 7, key >> 3
            if number == 0 or kind not in (0, 1, 2, 5):
                return None
            value = None
            if kind == 0:
                _, index = _varint(data, index)
            elif kind == 1:
                index += 8
            elif kind == 5:
                index += 4
            else:
                length, index = _varint(data, index)
                value = data[index:index + length]
                index += length
            if index > len(data):
                return None
            values.append(value)
    except ValueError:
        return None
    return values


def _longest_run(message: str, data: bytes) -> int:
    """Longest stretch of `message` (in characters) found verbatim in `data`. A run of more than
    MAX_ECHO bytes contains an aligned chunk of MAX_ECHO//2+1 bytes, so only those are searched
    (at up to 64 places each: repeated characters match in many), then grown byte by byte."""
    encoded = message.encode()
    step = MAX_ECHO // 2
    best = 0
    for index in range(0, len(encoded) - step, step):
        chunk = encoded[index:index + step + 1]
        found = data.find(chunk)
        tries = 0
        while found >= 0 and tries < 64:
            low, low_data = index, found
            while low > 0 and low_data > 0 and encoded[low - 1] == data[low_data - 1]:
                low, low_data = low - 1, low_data - 1
            high, high_data = index + len(chunk), found + len(chunk)
            while high < len(encoded) and high_data < len(data) and encoded[high] == data[high_data]:
                high, high_data = high + 1, high_data + 1
            best = max(best, len(encoded[low:high].decode("utf-8", "ignore")))
            found = data.find(chunk, found + 1)
            tries += 1
    return best


def message_shape(message: str) -> str:
    """The constant part of an error message, to group violations by cause: quoted text, digits
    and long runs removed, cut before the first quote or echoed value."""
    shape = re.sub(r"'[^']*'|\"[^\"]*\"", "Q", message)
    shape = re.sub(r"\d+", "#", shape)
    shape = re.sub(r"(.)\1{3,}", r"\1+", shape)
    return shape[:40]


def constant_part(message: str, body: bytes) -> str:
    """The shape of the message before the first piece of it that comes from the request: what
    the server wrote itself, which names the place that echoes."""
    for start in range(min(len(message), 64)):
        if message[start:start + 8].encode() in body:
            return message_shape(message[:start])
    return message_shape(message)[:24]


def malformed_in_http2(value: str) -> bool:
    """True when a header value is malformed for HTTP/2 itself (RFC 9113 section 8.2.1: NUL, CR
    or LF anywhere, or leading or trailing whitespace): the server must then reset the stream with
    PROTOCOL_ERROR, which is no violation."""
    return value != value.strip(" \t") or any(c in value for c in "\0\r\n")


def check(outcome, body: bytes, streaming: bool = False, reset_required: bool = False) -> list[tuple[str, str, str]]:
    """(property, what went wrong, cause) for each property `outcome` breaks; `cause` groups
    breaks that one fix would mend. `reset_required`: HTTP/2 requires a PROTOCOL_ERROR reset."""
    found = []
    if outcome.status in (wire.UNKNOWN, wire.INTERNAL):
        found.append(("no-unknown-internal", outcome.describe(), f"{outcome.label()}:{message_shape(outcome.message)}"))
    if outcome.status is None and not outcome.cancelled:
        if reset_required and outcome.reset == 1:    # PROTOCOL_ERROR
            pass
        elif outcome.timed_out and streaming:
            pass
        elif outcome.timed_out:
            found.append(("status-on-every-stream", f"no answer within {outcome.latency:.0f} s ({outcome.connection_error})",
                          "NO_ANSWER"))
        else:
            found.append(("status-on-every-stream", f"stream ended without a grpc-status: {outcome.describe()}",
                          outcome.label()))
    if len(outcome.message) > MAX_MESSAGE_CHARS:
        found.append(("message-bounded",
                      f"grpc-message of {len(outcome.message)} characters ({outcome.label()}: "
                      f"{outcome.message[:100]!r}...)", constant_part(outcome.message, body)))
    echoed = echoed_run(outcome.message, body)
    if echoed:
        found.append(("no-echo", f"grpc-message repeats {echoed} characters of the request ({outcome.label()}: "
                                 f"{outcome.message[:100]!r}...)", constant_part(outcome.message, body)))
    return found
