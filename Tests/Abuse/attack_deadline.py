"""deadline: grpc-timeout values outside gRPC's grammar (TimeoutValue is 1-8 ASCII digits,
TimeoutUnit one of H M S m u n), sent with no credential to health Check and to a real RPC of
every server; and valid values, which must be honoured.

A malformed value must get INVALID_ARGUMENT, or be ignored (the call then gets the answer it gets
without the header); the server must live either way. A valid deadline on a call that would run
forever (a Watch stream) must end it with DEADLINE_EXCEEDED soon after the deadline.
"""
from __future__ import annotations

import time

import properties
import wire
from calls import CallSpec
from cluster import BACKENDS, GATEWAY, SERVERS

NAME = "deadline"
SHARE = 0.07

MALFORMED = ["-1S", "999999999S", "1X", "S", "", "1.5S", "+1S", " 1S", "1S ", "1 S", "99999999999999999999S",
             "-0S", "0x10S", "1e3S", "1SS", "\uff11S", "1\u79d2", "9223372036854775807n", "-9223372036854775808S",
             "18446744073709551616S"]
VALID = ["0S", "1n", "1S", "100m", "99999999S", "99999999n", "1H", "1M", "5000000u"]
WATCH_DEADLINE = "500m"      # on an endless stream, must end it with DEADLINE_EXCEEDED
WATCH_GRACE = 1.5            # seconds after the deadline the status must have arrived by


def probe_methods(ctx) -> dict[str, list[str]]:
    """Health Check plus one real RPC per server: the first List* of a backend's service, the
    first AdminService method on the gateway."""
    chosen = {}
    for server in SERVERS:
        own = [m for m in ctx.protocol.served_by(server)
               if server != GATEWAY or m.package == "privacy.gateway.v1"]
        listing = [m for m in own if m.name.startswith("List") and not m.server_streaming]
        real = (listing or [m for m in own if not m.server_streaming])[0]
        chosen[server] = [wire.HEALTH_CHECK, real.path]
    return chosen


def check_call(ctx, spec: CallSpec, accepted: list[str], what: str) -> None:
    """Sends `spec`, counts it, and reports a death, a missing status or an unexpected answer."""
    outcome = spec.send(ctx.cluster, wait=6.0)
    ctx.record(spec, outcome)
    # A server that answered is alive; one that did not may have trapped: give it a moment.
    broken = outcome.status is None and ctx.broken_servers(ctx.affected(spec.server))
    if broken:
        for _, detail in ctx.deaths_after(spec.server, f"grpc-timeout {spec.timeout!r} ({what}, no credential)"):
            ctx.violate("process-alive", spec.server, spec.path, detail, cause=repr(spec.timeout), calls=[spec],
                        grouped=True)
        return
    if outcome.status is not None and outcome.label() not in accepted:
        ctx.violate("deadline-" + what.split()[0], spec.server, spec.path,
                    f"grpc-timeout {spec.timeout!r} ({what}) got {outcome.describe()}; expected {' or '.join(accepted)}",
                    cause=f"{spec.timeout!r} {spec.path.startswith('/grpc.health')} {outcome.label()}", calls=[spec],
                    expect={"status": accepted}, grouped=True)


def run(ctx, deadline: float) -> None:
    methods = probe_methods(ctx)
    ctx.log("  targets: " + ", ".join(f"{s} {m[1]}" for s, m in methods.items()))
    baselines = {}
    for server, paths in methods.items():
        for path in paths:
            outcome = CallSpec(server, path, wire.frame(b""), "none").send(ctx.cluster, wait=6.0)
            baselines[(server, path)] = outcome.label()
    for values, kind in ((MALFORMED, "malformed value"), (VALID, "valid value")):
        for value in values:
            for server, paths in methods.items():
                for path in paths:
                    if time.monotonic() > deadline:
                        return
                    baseline = baselines[(server, path)]
                    if kind == "malformed value":
                        accepted = ["INVALID_ARGUMENT", baseline]
                        if properties.malformed_in_http2(value):
                            accepted.append("RST_STREAM:PROTOCOL_ERROR")
                    else:
                        accepted = [baseline] + (["DEADLINE_EXCEEDED"] if value in ("0S", "1n") else [])
                    spec = CallSpec(server, path, wire.frame(b""), "none", timeout=value, kind=f"{kind} grpc-timeout")
                    check_call(ctx, spec, accepted, kind)
    honoured(ctx, deadline)


def watch_calls(ctx) -> list[CallSpec]:
    """Endless streams: health Watch on every server, WatchConsentEvents on consent and gateway."""
    calls = [CallSpec(server, wire.HEALTH_WATCH, wire.frame(b""), "none") for server in SERVERS]
    consent = ctx.protocol.module("consent", "consent")
    big = consent.WatchConsentEventsRequest(after_sequence=1 << 40).SerializeToString()
    for server in (BACKENDS[0], GATEWAY):
        calls.append(CallSpec(server, "/privacy.consent.v1.ConsentService/WatchConsentEvents", wire.frame(big),
                              "role:dpo" if server == GATEWAY else "internal"))
    return calls


def honoured(ctx, deadline: float) -> None:
    for spec in watch_calls(ctx):
        if time.monotonic() > deadline:
            return
        spec.timeout = WATCH_DEADLINE
        spec.kind = "deadline on an endless stream"
        outcome = spec.send(ctx.cluster, wait=0.5 + WATCH_GRACE)
        ctx.ledger.count(outcome.label())
        if outcome.label() != "DEADLINE_EXCEEDED":
            ctx.violate("deadline-honoured", spec.server, spec.path,
                        f"grpc-timeout {WATCH_DEADLINE} on a stream that never ends by itself: "
                        f"{'still open' if outcome.timed_out else outcome.describe()} {outcome.latency:.1f} s later "
                        f"(expected DEADLINE_EXCEEDED)", cause=f"{spec.path} {outcome.label()}", calls=[spec],
                        expect={"status": ["DEADLINE_EXCEEDED"], "property": "deadline-honoured"}, grouped=True)
