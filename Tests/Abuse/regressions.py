"""Regression cases: every input that broke a property, saved as JSON under regressions/ and
replayed first on every run, so a fixed finding stays fixed.

A case is {attack, property, server, method, what_went_wrong, seed, replay}. `replay` is either
{"kind": "calls", "calls": [CallSpec JSON...], "expect": {...}}: the calls are sent one by one on
fresh connections and must break no property (nor kill any process), or
{"kind": "scenario", "attack": NAME, "name": SCENARIO, "params": {...}}: a frame sequence too
stateful to store as bytes (rapid reset, stream-limit overrun...), run again by the attack module
that owns it. Credentials are stored as roles ("internal", "role:dpo"), never as a run's secrets.
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import time

import chains
import properties
from calls import CallSpec

MAX_NEW_CASES_PER_RUN = 80


def _digest(violation) -> str:
    """Names the cause: the same in every run, whichever server and input showed it first."""
    return hashlib.sha1(violation.signature.encode()).hexdigest()[:10]


def _file_name(violation) -> str:
    method = violation.method.rsplit("/", 1)[-1] or "scenario"
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{violation.attack}-{violation.server}-{method}-{violation.prop}")
    return f"{slug}-{_digest(violation)}.json"


def save(directory: str, ledger, log=print) -> list[str]:
    """Writes a case for each violation of this run that has one: a new cause gets a file, a
    known cause's file is rewritten only with a smaller input."""
    os.makedirs(directory, exist_ok=True)
    written = []
    for violation in ledger.violations.values():
        if violation.case is None or violation.attack == "replay":
            continue
        existing = glob.glob(os.path.join(directory, f"*-{_digest(violation)}.json"))
        path = existing[0] if existing else os.path.join(directory, _file_name(violation))
        violation.case["file"] = os.path.relpath(path)
        if existing and not _smaller(violation.case, path):
            continue
        if not existing and len(written) >= MAX_NEW_CASES_PER_RUN:
            log(f"  (more than {MAX_NEW_CASES_PER_RUN} new regression cases; the rest are left for the next run)")
            break
        case = {key: value for key, value in violation.case.items() if key != "file"}
        case["occurrences_in_run"] = violation.count
        case["saved_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        with open(path, "w") as handle:
            json.dump(case, handle, indent=2, ensure_ascii=True)
            handle.write("\n")
        written.append(path)
    return written


def _input_bytes(case: dict) -> int | None:
    replay = case.get("replay", {})
    if replay.get("kind") != "calls":
        return None
    return sum(call.get("body_bytes", 0) for call in replay["calls"])


def _smaller(case: dict, path: str) -> bool:
    """True when `case` replays the same cause as the saved file with fewer bytes."""
    with open(path) as handle:
        saved = _input_bytes(json.load(handle))
    mine = _input_bytes(case)
    return saved is not None and mine is not None and mine < saved


def load(directory: str) -> list[tuple[str, dict]]:
    if not os.path.isdir(directory):
        return []
    cases = []
    for name in sorted(os.listdir(directory)):
        if name.endswith(".json"):
            with open(os.path.join(directory, name)) as handle:
                cases.append((os.path.join(directory, name), json.load(handle)))
    return cases


def replay(ctx, directory: str, scenarios: dict, deadline: float) -> tuple[int, int]:
    """Replays every saved case; (cases replayed, cases still failing). `scenarios` maps an attack
    name to its module's `replay_scenario(ctx, name, params) -> [(property, detail)]`."""
    cases = load(directory)
    failing = 0
    done = 0
    chain_cases = False
    for path, case in cases:
        if time.monotonic() > deadline:
            ctx.log(f"  replay budget spent: {len(cases) - done} case(s) not replayed")
            ctx.ledger.note(f"replay budget spent: {len(cases) - done} saved case(s) not replayed")
            break
        done += 1
        name = os.path.relpath(path)
        started = time.monotonic()
        replay_spec = case["replay"]
        problems: list[tuple[str, str]] = []
        if replay_spec["kind"] == "calls":
            chain_cases = chain_cases or bool(replay_spec.get("expect", {}).get("chains"))
            problems = _replay_calls(ctx, replay_spec)
        elif replay_spec["kind"] == "scenario":
            handler = scenarios.get(replay_spec.get("attack", case["attack"]))
            if handler is None:
                problems = [("replayable", f"no attack owns scenario {replay_spec.get('name')}")]
            else:
                problems = handler(ctx, replay_spec["name"], replay_spec.get("params", {}))
        for death in ctx.claim_deaths(started):
            if not any(prop == "process-alive" and death["server"] in detail for prop, detail in problems):
                problems.append(("process-alive", ctx.death_detail(death)))
        if problems:
            failing += 1
            for prop, detail in problems:
                ctx.violate(prop, case.get("server", "?"), case.get("method", "?"),
                            f"regression case {name} still fails: {detail}", cause=name)
        else:
            ctx.log(f"  ok {name}")
        ctx.wait_recovered()
    if chain_cases:
        ctx.fresh_data()            # the attacks start from valid chains
    return done, failing


def _replay_calls(ctx, replay_spec: dict) -> list[tuple[str, str]]:
    problems = []
    expect = replay_spec.get("expect", {})
    if expect.get("chains"):
        ctx.fresh_data()        # a chain broken by an earlier case would stay broken
    for data in replay_spec["calls"]:
        spec = CallSpec.from_json(data)
        try:
            streaming = ctx.protocol.method(spec.path).server_streaming
        except KeyError:        # a method no longer in Protocol/: the server must still answer
            streaming = False
        outcome = spec.send(ctx.cluster, wait=3.0 if streaming else 6.0)
        ctx.ledger.count(outcome.label())
        reset_required = spec.timeout is not None and properties.malformed_in_http2(spec.timeout)
        for prop, detail, _ in properties.check(outcome, spec.body, streaming, reset_required):
            problems.append((prop, detail))
        if "status" in expect and outcome.label() not in expect["status"]:
            problems.append((expect.get("property", "expected-status"),
                             f"expected {' or '.join(expect['status'])}, got {outcome.describe()}"))
        broken = ctx.broken_servers(ctx.affected(spec.server), settle=0.0 if outcome.status is not None else 0.5)
        for name in broken:
            problems.append(("process-alive", f"{name} died after {spec.brief()}"))
        if broken:
            ctx.wait_recovered()
    if expect.get("chains"):
        problems += chains.problems(ctx, expect["chains"])
    return problems

