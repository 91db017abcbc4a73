"""h2abuse: HTTP/2 abuse that needs no credential, plus one legitimate pattern that must not be
mistaken for abuse.

- rapid reset: HEADERS + RST_STREAM for 50,000 streams in 5 s on one connection; the server must
  cut the connection off (GOAWAY or close) while health keeps answering on other connections.
- CONTINUATION flood: a header block that never ends; cut off within 5 s.
- header flood: 10,000 headers in one request, and an HPACK bomb (one 4 KiB header inserted in the
  dynamic table, then referenced 10,000 times: 14 KiB on the wire, 40 MiB decoded); the server
  must survive with bounded memory (what it answers is reported).
- stream-limit overrun: 44 streams past the advertised SETTINGS_MAX_CONCURRENT_STREAMS; the
  extra streams must get REFUSED_STREAM and the connection must stay usable.
- mass cancellation: a client with 250 WatchConsentEvents calls cancels 210 at once; its
  connection must stay up and its other 40 calls keep working.
- idle connections: 1,000 silent TCP connections and 350 that send only the HTTP/2 preface, on
  every server at once; the server must close them (silent ones after the handshake timeout, 10 s
  by default; handshaken ones after the idle timeout, 10 s in this suite's cluster) and health
  must keep answering.
"""
from __future__ import annotations

import collections
import os
import resource
import selectors
import socket
import time

import h2client
import rawh2
import wire
from calls import CallSpec
from cluster import BACKENDS, GATEWAY, SERVERS

NAME = "h2abuse"
SHARE = 0.27

RAPID_STREAMS = 50_000
RAPID_SECONDS = 5.0
FLOOD_SECONDS = 5.0
OVERRUN_EXTRA = 44
MASS_CALLS, MASS_CANCELLED = 250, 210
IDLE_SILENT, IDLE_PREFACE = 1000, 350
CLOSE_TIMEOUT = 10.0      # the handshake timeout (default) and the idle timeout (cluster.IDLE_TIMEOUT_S)
IDLE_GRACE = 10.0


def check_request_block(authority: str, path: str = wire.HEALTH_CHECK) -> bytes:
    return rawh2.header_block(wire.request_headers(authority, path))


# -- rapid reset --------------------------------------------------------------------------------

def rapid_reset(ctx, server: str) -> list[tuple[str, str]]:
    host, port = ctx.cluster.address(server)
    conn = rawh2.RawConnection(host, port)
    conn.poll(0.3)
    block = check_request_block(f"{host}:{port}")
    sent, stream_id = 0, 1
    started = time.monotonic()
    while sent < RAPID_STREAMS and time.monotonic() - started < RAPID_SECONDS and not conn.closed and not conn.goaway:
        batch = bytearray()
        for _ in range(250):
            batch += rawh2.frame(rawh2.HEADERS, rawh2.END_HEADERS, stream_id, block) + rawh2.rst_stream(stream_id)
            stream_id += 2
        if not conn.send(bytes(batch)):
            break
        sent += 250
        conn.poll(0)
    conn.poll(1.0)
    elapsed = time.monotonic() - started
    ctx.ledger.count("RAPID_RESET_STREAM", sent)
    end = conn.describe_end()
    conn.close()
    if not ctx.replaying:
        ctx.ledger.note(f"{server}: rapid reset: {sent:,} streams opened and reset in {elapsed:.1f} s, then {end}")
    problems = ctx.deaths_after(server, "rapid reset")
    if not problems and end == "connection open":
        problems.append(("rapid-reset-cut-off", f"{sent:,} HEADERS+RST_STREAM pairs in {elapsed:.1f} s on one "
                                                f"connection were all accepted; no GOAWAY, connection still open"))
    return problems


# -- CONTINUATION flood -------------------------------------------------------------------------

def continuation_flood(ctx, server: str) -> list[tuple[str, str]]:
    host, port = ctx.cluster.address(server)
    conn = rawh2.RawConnection(host, port)
    conn.poll(0.3)
    conn.send(rawh2.frame(rawh2.HEADERS, 0, 1, check_request_block(f"{host}:{port}")))
    filler = rawh2.header_block([(b"x-flood-a", b"a" * 7000), (b"x-flood-b", b"b" * 7000)])
    sent = 0
    started = time.monotonic()
    while time.monotonic() - started < FLOOD_SECONDS and not conn.closed and not conn.goaway:
        if not conn.send(rawh2.frame(rawh2.CONTINUATION, 0, 1, filler)):
            break
        sent += len(filler)
        conn.poll(0)
    conn.poll(0.5)
    elapsed = time.monotonic() - started
    ctx.ledger.count("CONTINUATION_FLOOD")
    end = conn.describe_end()
    conn.close()
    if not ctx.replaying:
        ctx.ledger.note(f"{server}: CONTINUATION flood: {sent / 1024:,.0f} KiB of header block in "
                        f"{elapsed:.1f} s, then {end}")
    problems = ctx.deaths_after(server, "CONTINUATION flood")
    if not problems and end == "connection open":
        problems.append(("continuation-flood-cut-off", f"{sent / 1024:,.0f} KiB of CONTINUATION frames in "
                                                       f"{elapsed:.1f} s without the connection being cut off"))
    return problems


# -- header flood -------------------------------------------------------------------------------

def header_flood(ctx, server: str, shape: str) -> list[tuple[str, str]]:
    host, port = ctx.cluster.address(server)
    conn = rawh2.RawConnection(host, port)
    conn.poll(0.3)
    request = check_request_block(f"{host}:{port}")
    if shape == "10,000 headers":
        extra = rawh2.header_block([(f"x-h{index}".encode(), b"v") for index in range(10_000)])
    else:   # HPACK bomb: literal with incremental indexing (0x40) of a 4 KiB value, then index 62 x 10,000
        name, value = b"x-bomb", b"a" * 4096
        extra = (b"\x40" + hpack_string(name) + hpack_string(value)) + b"\xbe" * 10_000
    block = request + extra
    chunks = [block[offset:offset + 16_000] for offset in range(0, len(block), 16_000)]
    frames = bytearray()
    for index, chunk in enumerate(chunks):
        last = index == len(chunks) - 1
        kind = rawh2.HEADERS if index == 0 else rawh2.CONTINUATION
        flags = (rawh2.END_HEADERS if last else 0) | (rawh2.END_STREAM if index == 0 else 0)
        frames += rawh2.frame(kind, flags, 1, chunk)
    conn.send(bytes(frames))
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline and not conn.closed and not conn.goaway and 1 not in conn.responses \
            and 1 not in conn.resets:
        conn.poll(0.1)
    ctx.ledger.count("HEADER_FLOOD")
    answer = f"{conn.status_of(1)}, {conn.describe_end()}"
    conn.close()
    if not ctx.replaying:
        ctx.ledger.note(f"{server}: header flood ({shape}, {len(block) / 1024:.0f} KiB on the wire): {answer}")
    return ctx.deaths_after(server, f"header flood ({shape})")


def hpack_string(data: bytes) -> bytes:
    """An HPACK string literal without Huffman coding (length prefix of 7 bits)."""
    if len(data) < 127:
        return bytes([len(data)]) + data
    value, out = len(data) - 127, bytearray([127])
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out) + data


# -- stream-limit overrun ------------------------------------------------------------------------

def stream_overrun(ctx, server: str) -> list[tuple[str, str]]:
    host, port = ctx.cluster.address(server)
    conn = h2client.Connection(host, port)
    try:
        conn.wait_settings()
        advertised = conn.remote_settings.get(3)
        if advertised is None or advertised > 10_000:
            return [("stream-limit-refused", f"no SETTINGS_MAX_CONCURRENT_STREAMS advertised ({advertised})")]
        conn.h2.ignore_stream_limit = True
        outcomes = []
        for _ in range(advertised + OVERRUN_EXTRA):
            headers = wire.request_headers(conn.authority, wire.HEALTH_WATCH)
            outcomes.append(conn.start(wire.HEALTH_WATCH, headers, wire.frame(b""))[1])
        conn.run_until(lambda: conn.closed or sum(1 for o in outcomes if o.data or o.ended) >= len(outcomes), 3.0)
        refused = [index for index, o in enumerate(outcomes) if o.reset == wire.REFUSED_STREAM]
        served = sum(1 for o in outcomes if o.data)
        ended_how = "GOAWAY " + wire.h2_error_name(conn.goaway[0]) if conn.goaway else (
            "closed: " + conn.close_reason if conn.closed else "open")
        follow_up = "not tried (connection gone)"
        if not conn.closed and not conn.goaway:
            open_ids = [sid for sid, request in conn.requests.items() if not request.done]
            for stream_id in open_ids[:20]:
                conn.cancel(stream_id)
            _, check = conn.start(wire.HEALTH_CHECK, wire.request_headers(conn.authority, wire.HEALTH_CHECK),
                                  wire.frame(b""))
            conn.run_until(lambda: check.ended, 3.0)
            follow_up = check.describe()
        summary = (f"advertised {advertised}; opened {len(outcomes)}: {served} served, {len(refused)} refused "
                   f"(REFUSED_STREAM), connection {ended_how}; a Check on it afterwards: {follow_up}")
        if not ctx.replaying:
            ctx.ledger.note(f"{server}: stream-limit overrun: {summary}")
        ctx.ledger.count("OVERRUN_STREAM", len(outcomes))
        problems = ctx.deaths_after(server, "stream-limit overrun")
        if not problems and (len(refused) < OVERRUN_EXTRA or conn.goaway or conn.closed or follow_up[:2] != "OK"):
            problems.append(("stream-limit-refused", summary))
        return problems
    finally:
        conn.close()


# -- legitimate mass cancellation ----------------------------------------------------------------

def mass_cancel(ctx, server: str) -> list[tuple[str, str]]:
    consent = ctx.protocol.module("consent", "consent")
    common = ctx.protocol.module("common", "common")
    watch_path = "/privacy.consent.v1.ConsentService/WatchConsentEvents"
    record_path = "/privacy.consent.v1.ConsentService/RecordConsent"

    def record(subject: str):
        request = consent.RecordConsentRequest(subject_id=subject, purpose_id="newsletter",
                                               decision=consent.DECISION_GRANTED,
                                               evidence=consent.Evidence(channel=common.CHANNEL_API))
        return ctx.unary(BACKENDS[0], record_path, request)

    response, outcome = record("mass-cancel-head")
    if response is None:
        return [("mass-cancel-keeps-connection", f"could not record a consent to start from: {outcome.describe()}")]
    head = response.event.sequence
    host, port = ctx.cluster.address(server)
    conn = h2client.Connection(host, port)
    try:
        conn.wait_settings()
        credential = "role:dpo" if server == GATEWAY else "internal"
        body = wire.frame(consent.WatchConsentEventsRequest(after_sequence=head).SerializeToString())
        spec = CallSpec(server, watch_path, body, credential)
        calls = [spec.start_on(conn, ctx.cluster, None) for _ in range(MASS_CALLS)]
        conn.run_until(lambda: conn.closed, 1.5)
        opened_ok = not conn.closed and not conn.goaway and not any(o.ended for _, o in calls)
        for stream_id, _ in calls[:MASS_CANCELLED]:
            conn.cancel(stream_id)
        conn.flush()
        conn.run_until(lambda: conn.closed, 1.0)
        record("mass-cancel-after")
        kept = [o for _, o in calls[MASS_CANCELLED:]]
        conn.run_until(lambda: conn.closed or all(o.data or o.ended for o in kept), 5.0)
        delivered = sum(1 for o in kept if o.data)
        ended = collections.Counter(o.label() for o in kept if o.ended and not o.data)
        unary = "not tried (connection gone)"
        if not conn.closed and not conn.goaway:
            probe = CallSpec(server, "/privacy.consent.v1.ConsentService/ListPurposes", wire.frame(b""), credential)
            _, answer = probe.start_on(conn, ctx.cluster, None)
            conn.run_until(lambda: answer.ended, 5.0)
            unary = answer.describe()
        state = ("GOAWAY " + wire.h2_error_name(conn.goaway[0]) if conn.goaway else
                 "closed: " + conn.close_reason if conn.closed else "open")
        summary = (f"{MASS_CALLS} WatchConsentEvents calls ({'all open' if opened_ok else 'not all opened'}), "
                   f"{MASS_CANCELLED} cancelled at once: connection {state}; {delivered} of {len(kept)} remaining "
                   f"calls got the next event within 5 s"
                   + (f" (ended without it: {dict(ended)})" if ended else "")
                   + f"; a ListPurposes on the connection: {unary}")
        if not ctx.replaying:
            ctx.ledger.note(f"{server}: mass cancellation: {summary}")
        ctx.ledger.count("MASS_CANCEL_STREAM", MASS_CALLS)
        problems = ctx.deaths_after(server, "mass cancellation")
        if not problems and (conn.goaway or conn.closed or delivered < len(kept) or not unary.startswith("OK")):
            problems.append(("mass-cancel-keeps-connection", summary))
        return problems
    finally:
        conn.close()


# -- idle and half-open connections --------------------------------------------------------------

def idle_connections(ctx, servers: list[str], silent: int, preface: int) -> list[tuple[str, str]]:
    """Opens the connections on every server at once (non-blocking: a starved server leaves
    connects pending), then watches which ones the servers close."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    room = max(0, soft - 300 - len(os.listdir("/proc/self/fd")))
    if (silent + preface) * len(servers) > room:
        scale = room / ((silent + preface) * len(servers))
        silent, preface = int(silent * scale), int(preface * scale)
        if not ctx.replaying:
            ctx.ledger.note(f"idle connections scaled to {silent} + {preface} per server (open-files limit {soft})")
    selector = selectors.DefaultSelector()
    owner: dict[socket.socket, tuple[str, str]] = {}
    opened_at = time.monotonic()
    for server in servers:
        address = ctx.cluster.address(server)
        for index in range(silent + preface):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            sock.connect_ex(address)
            owner[sock] = (server, "silent" if index < silent else "preface")
            selector.register(sock, selectors.EVENT_WRITE)
    connected: dict[socket.socket, float] = {}
    failed: set[socket.socket] = set()
    closed_at: dict[socket.socket, float] = {}
    deadline = opened_at + CLOSE_TIMEOUT + IDLE_GRACE
    while time.monotonic() < deadline and len(closed_at) + len(failed) < len(owner):
        for key, mask in selector.select(0.2):
            sock = key.fileobj
            if sock not in connected:
                error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if error:
                    failed.add(sock)
                    selector.unregister(sock)
                    continue
                connected[sock] = time.monotonic() - opened_at
                if owner[sock][1] == "preface":
                    try:
                        sock.send(rawh2.PREFACE + rawh2.settings_frame())
                    except OSError:
                        pass
                selector.modify(sock, selectors.EVENT_READ)
                continue
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                closed_at[sock] = time.monotonic() - opened_at
                selector.unregister(sock)
    problems = []
    for server in servers:
        for kind in ("silent", "preface"):
            mine = [sock for sock, who in owner.items() if who == (server, kind)]
            made = [sock for sock in mine if sock in connected]
            closed = [closed_at[sock] for sock in made if sock in closed_at]
            text = (f"{server}: {len(made)} of {len(mine)} {kind} connections established, {len(closed)} of them "
                    f"closed by the server within {CLOSE_TIMEOUT + IDLE_GRACE:.0f} s"
                    + (f" (first after {min(closed):.1f} s, last after {max(closed):.1f} s)" if closed else ""))
            if not ctx.replaying:
                ctx.ledger.note(f"idle: {text}")
            if len(closed) < len(mine):
                problems.append(("idle-connections-closed", text))
    ctx.ledger.count("IDLE_CONNECTION", len(owner))
    selector.close()
    for sock in owner:
        sock.close()
    for server in servers:
        problems += ctx.deaths_after(server, "idle connections")
    return problems


# -- driver ---------------------------------------------------------------------------------------

SCENARIOS = {
    "rapid_reset": lambda ctx, p: rapid_reset(ctx, p["server"]),
    "continuation_flood": lambda ctx, p: continuation_flood(ctx, p["server"]),
    "header_flood": lambda ctx, p: header_flood(ctx, p["server"], p["shape"]),
    "stream_overrun": lambda ctx, p: stream_overrun(ctx, p["server"]),
    "mass_cancel": lambda ctx, p: mass_cancel(ctx, p["server"]),
    "idle_connections": lambda ctx, p: idle_connections(ctx, p["servers"], p["silent"], p["preface"]),
}


def plan() -> list[tuple[str, dict]]:
    steps = []
    for server in SERVERS:
        steps += [("rapid_reset", {"server": server}), ("continuation_flood", {"server": server}),
                  ("header_flood", {"server": server, "shape": "10,000 headers"}),
                  ("header_flood", {"server": server, "shape": "HPACK bomb"}),
                  ("stream_overrun", {"server": server})]
    steps += [("mass_cancel", {"server": BACKENDS[0]}), ("mass_cancel", {"server": GATEWAY})]
    steps.append(("idle_connections", {"servers": SERVERS, "silent": IDLE_SILENT, "preface": IDLE_PREFACE}))
    return steps


def run(ctx, deadline: float) -> None:
    idle_reserve = CLOSE_TIMEOUT + IDLE_GRACE + 5   # the last step always runs
    for name, params in plan():
        if name != "idle_connections" and time.monotonic() + idle_reserve > deadline:
            ctx.ledger.note(f"h2abuse: time share spent before {name} {params}")
            continue
        ctx.ledger.phase = f"{name} {params.get('server', '')} {params.get('shape', '')}".strip()
        ctx.log(f"  {ctx.ledger.phase}")
        problems = SCENARIOS[name](ctx, params)
        server = params.get("server", "all")
        ctx.report(NAME, server, name, problems, name, params, f"{name} {params.get('shape', '')}")
        ctx.wait_recovered()


def replay_scenario(ctx, name: str, params: dict) -> list[tuple[str, str]]:
    if name not in SCENARIOS:
        return [("replayable", f"unknown h2abuse scenario {name}")]
    return SCENARIOS[name](ctx, params)
