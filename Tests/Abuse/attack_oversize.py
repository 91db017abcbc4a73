"""oversize: request messages over the 4 MiB limit (4 MiB + 1 byte, 16 MiB, 20 MiB, 64 MiB, sent
honestly and streamed), a length prefix claiming 2 GiB followed by a few bytes, and metadata over
the header-size limit (one 20 KiB value; 100 values of 1 KiB).

Every oversized message must get RESOURCE_EXHAUSTED (the README's promise), not CANCELLED and not
a reset; oversized metadata must get a status that says so (or HTTP 431), not a dropped
connection. The server must live and its memory stay bounded (the watchdog samples RSS).
"""
from __future__ import annotations

import re
import time

import h2client
import wire
from calls import CallSpec, credential_for
from cluster import SERVERS

NAME = "oversize"
SHARE = 0.10

MIB = 1024 * 1024
SIZES = [4 * MIB + 1, 16 * MIB, 20 * MIB, 64 * MIB]
CLAIMED = 1 << 31
TOO_LARGE_WORDS = re.compile(r"too (large|big|long)|exceed|limit|size", re.IGNORECASE)


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def oversized_body(size: int) -> h2client.Body:
    """A message of exactly `size` bytes (one unknown length-delimited field, number 15, which any
    proto3 parser accepts), framed with its true length, produced as it is sent."""
    head_without_prefix = b"\x7a" + varint(size - 1 - len(varint(size)))
    payload_length = size - len(head_without_prefix)
    head = wire.frame(b"", declared_length=size)[:5] + head_without_prefix
    return h2client.Body(head, total=5 + len(head_without_prefix) + payload_length, filler=b"abcdefgh")


def target_method(ctx, server: str) -> str:
    """A unary RPC of the server that takes a request message (the first one it serves)."""
    return next(m.path for m in ctx.protocol.served_by(server) if not m.server_streaming)


def call_body(ctx, server: str, path: str, body, end_stream: bool = True, headers=(), wait: float = 30.0):
    spec = CallSpec(server, path, body, credential_for(server), headers=list(headers), end_stream=end_stream)
    return spec.send(ctx.cluster, wait=wait)


def run(ctx, deadline: float) -> None:
    steps = ([(oversized_message, size) for size in SIZES] + [(claimed_length, True), (claimed_length, False)]
             + [(oversized_metadata, "one 20 KiB value"), (oversized_metadata, "100 values of 1 KiB")])
    for step, parameter in steps:
        for server in SERVERS:
            if time.monotonic() > deadline:
                return
            ctx.ledger.phase = f"{step.__name__} {parameter} {server}"
            step(ctx, server, parameter)


def oversized_message(ctx, server: str, size: int) -> list[tuple[str, str]]:
    path = target_method(ctx, server)
    started = time.monotonic()
    outcome = call_body(ctx, server, path, oversized_body(size))
    ctx.ledger.count(outcome.label())
    what = f"a {size:,}-byte message ({size / MIB:.2f} MiB) with an honest length prefix"
    problems = ctx.deaths_after(server, what)
    if not problems and outcome.label() != "RESOURCE_EXHAUSTED":
        problems.append(("oversize-resource-exhausted",
                         f"{what} to {path} got {outcome.describe()} after {time.monotonic() - started:.1f} s "
                         f"(expected RESOURCE_EXHAUSTED)"))
    ctx.report(NAME, server, path, problems, "message", {"server": server, "size": size}, f"size {size}")
    return problems


def claimed_length(ctx, server: str, end_stream: bool) -> list[tuple[str, str]]:
    path = target_method(ctx, server)
    body = wire.frame(b"\x0a\x03abc" + b"x" * 95, declared_length=CLAIMED)
    outcome = call_body(ctx, server, path, body, end_stream=end_stream, wait=5.0)
    ctx.ledger.count(outcome.label())
    what = (f"a length prefix claiming {CLAIMED:,} bytes followed by 100 bytes"
            + (" and END_STREAM" if end_stream else ", stream left open"))
    problems = ctx.deaths_after(server, what)
    if not problems and outcome.label() != "RESOURCE_EXHAUSTED":
        problems.append(("oversize-resource-exhausted",
                         f"{what} to {path} got {'no answer in 5 s' if outcome.timed_out else outcome.describe()} "
                         f"(expected RESOURCE_EXHAUSTED at once)"))
    ctx.report(NAME, server, path, problems, "claimed", {"server": server, "end_stream": end_stream},
               f"claimed end_stream={end_stream}")
    return problems


def oversized_metadata(ctx, server: str, shape: str) -> list[tuple[str, str]]:
    if shape == "one 20 KiB value":
        headers = [("x-abuse-big", "v" * 20 * 1024)]
    else:
        headers = [(f"x-abuse-{index}", "v" * 1024) for index in range(100)]
    path = target_method(ctx, server)
    outcome = call_body(ctx, server, path, wire.frame(b""), headers=headers, wait=5.0)
    ctx.ledger.count(outcome.label())
    if not ctx.replaying:
        ctx.ledger.note(f"{server}: metadata of {shape} -> {outcome.describe()}")
    problems = ctx.deaths_after(server, f"metadata of {shape}")
    says_so = (outcome.http_status == 431 or
               (outcome.status not in (None, wire.OK, wire.UNKNOWN, wire.INTERNAL)
                and TOO_LARGE_WORDS.search(outcome.message or "")))
    if not problems and not says_so:
        problems.append(("metadata-too-large-status",
                         f"metadata of {shape} (over the advertised SETTINGS_MAX_HEADER_LIST_SIZE) to {path} got "
                         f"{outcome.describe()}; expected a status saying the metadata is too large"))
    ctx.report(NAME, server, path, problems, "metadata", {"server": server, "shape": shape}, shape)
    return problems


def replay_scenario(ctx, name: str, params: dict) -> list[tuple[str, str]]:
    if name == "message":
        return oversized_message(ctx, params["server"], params["size"])
    if name == "claimed":
        return claimed_length(ctx, params["server"], params["end_stream"])
    if name == "metadata":
        return oversized_metadata(ctx, params["server"], params["shape"])
    return [("replayable", f"unknown oversize scenario {name}")]
