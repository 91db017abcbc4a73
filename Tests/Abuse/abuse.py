#!/usr/bin/env python3
"""The standing abuse suite (issue 16): starts the five real executables on loopback and attacks
them with fixed seeds within a time budget, checking that no process dies, no call gets UNKNOWN or
INTERNAL or ends without a status, error messages stay short and do not echo the input, health
answers within 1 s during and after every attack, memory stays bounded, and acknowledged writes
survive kill -9.

    python3 Tests/Abuse/abuse.py --bin-dir .build/debug [--seed N] [--long] [--only fuzz,deadline]
                                 [--budget-seconds 480]

Exit status 0 when every property held, 1 otherwise. Every input that broke a property is saved
under Tests/Abuse/regressions/ and replayed first on the next run.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import deps  # noqa: E402  (must run before anything imports grpc or h2)

deps.ensure()

import attack_crashloop  # noqa: E402
import attack_deadline  # noqa: E402
import attack_fuzz  # noqa: E402
import attack_h2abuse  # noqa: E402
import attack_oversize  # noqa: E402
import fixtures  # noqa: E402
import regressions  # noqa: E402
from cluster import Cluster  # noqa: E402
from context import Context  # noqa: E402
from ledger import Ledger  # noqa: E402
from monitor import Watchdog  # noqa: E402
from protos import Protocol  # noqa: E402

ATTACKS = [attack_fuzz, attack_deadline, attack_oversize, attack_h2abuse, attack_crashloop]
REPLAY_SHARE = 0.15
REGRESSION_DIR = os.path.join(HERE, "regressions")
RESERVED_SECONDS = 12.0   # start-up, stub generation and shutdown


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin-dir", required=True, help="directory of the built executables (.build/debug)")
    parser.add_argument("--seed", type=int, default=16, help="seed of every random choice (default 16)")
    parser.add_argument("--long", action="store_true", help="aim for 1,000,000 fuzz requests and longer loops")
    parser.add_argument("--only", default="", help="comma-separated attacks: " + ", ".join(a.NAME for a in ATTACKS))
    parser.add_argument("--budget-seconds", type=float, default=None,
                        help="total run time (default 480; with --long 14400)")
    parser.add_argument("--skip-replay", action="store_true", help="do not replay saved regression cases")
    parser.add_argument("--protocol-dir", default=os.path.join(HERE, "..", "..", "Protocol"))
    arguments = parser.parse_args(argv)
    if arguments.budget_seconds is None:
        arguments.budget_seconds = 14400.0 if arguments.long else 480.0
    names = {attack.NAME for attack in ATTACKS}
    arguments.only = [name.strip() for name in arguments.only.split(",") if name.strip()]
    unknown = [name for name in arguments.only if name not in names]
    if unknown:
        parser.error(f"unknown attack(s) {', '.join(unknown)}; choose from {', '.join(sorted(names))}")
    return arguments


def raise_open_files_limit() -> None:
    """The idle-connection attack holds thousands of sockets on the client side."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 1 << 20, hard))


def log(text: str) -> None:
    print(text, flush=True)


def main(argv=None) -> int:
    arguments = parse_arguments(argv if argv is not None else sys.argv[1:])
    started = time.monotonic()
    end = started + arguments.budget_seconds
    raise_open_files_limit()
    selected = [attack for attack in ATTACKS if not arguments.only or attack.NAME in arguments.only]
    work = tempfile.mkdtemp(prefix="privacy-abuse-")
    stubs = os.path.join(work, "stubs")
    os.makedirs(stubs)
    protocol = Protocol(arguments.protocol_dir, stubs)
    log(f"abuse suite: seed {arguments.seed}, budget {arguments.budget_seconds:.0f} s, "
        f"attacks {', '.join(a.NAME for a in selected)}, {len(protocol.methods)} RPCs in Protocol/privacy")
    run_dir = os.path.join(work, "run")
    os.makedirs(run_dir)
    cluster = Cluster(arguments.bin_dir, run_dir, log=log)
    ledger = Ledger()
    watchdog = None
    errors = []
    try:
        cluster.start_all()
        log("servers: " + ", ".join(f"{name} :{port}" for name, port in cluster.ports.items()) + f" (data in {run_dir})")
        watchdog = Watchdog(cluster, ledger, log=log)
        watchdog.start()
        ctx = Context(cluster, protocol, ledger, watchdog, arguments.seed, arguments.long, log=log)
        fixtures.seed(ctx)

        if not arguments.skip_replay and regressions.load(REGRESSION_DIR):
            ledger.begin("replay")
            phase_start = time.monotonic()
            ctx.replaying = True
            budget = (end - phase_start - RESERVED_SECONDS) * (REPLAY_SHARE if selected else 0.9)
            scenarios = {a.NAME: a.replay_scenario for a in ATTACKS if hasattr(a, "replay_scenario")}
            log(f"== replay of saved regression cases ({budget:.0f} s at most)")
            done, failing = regressions.replay(ctx, REGRESSION_DIR, scenarios, phase_start + budget)
            log(f"  {done} case(s) replayed, {failing} still failing")
            finish_phase(ctx, phase_start)
            ctx.replaying = False

        for index, attack in enumerate(selected):
            phase_start = time.monotonic()
            remaining = end - phase_start - RESERVED_SECONDS - 4.0 * (len(selected) - index)
            share = attack.SHARE / sum(a.SHARE for a in selected[index:])
            deadline = phase_start + max(10.0, remaining * share)
            log(f"== {attack.NAME} ({deadline - phase_start:.0f} s)")
            ledger.begin(attack.NAME)
            try:
                attack.run(ctx, deadline)
            except Exception:
                errors.append(f"{attack.NAME}: {traceback.format_exc()}")
                log(f"  ERROR: the attack itself failed:\n{traceback.format_exc()}")
            finish_phase(ctx, phase_start)
    finally:
        if watchdog is not None:
            watchdog.stop()
        cluster.stop_all()

    written = regressions.save(REGRESSION_DIR, ledger, log=log)
    log("")
    log(ledger.table())
    log("")
    for note in ledger.notes:
        log(f"note: {note}")
    log(ledger.violation_report())
    for path in written:
        log(f"saved regression case {os.path.relpath(path)}")
    for error in errors:
        log(f"ERROR in the suite: {error}")
    failed = ledger.failed() or bool(errors)
    if failed:
        log(f"server logs and databases kept in {run_dir}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    log(f"run time {time.monotonic() - started:.0f} s")
    return 1 if failed else 0


def finish_phase(ctx, phase_start: float) -> None:
    """Keeps probing health for a moment after the attack, judges the probes, reports deaths the
    attack did not explain, and brings every server back before the next attack."""
    ctx.watchdog.settle()
    ctx.report_unclaimed_deaths(phase_start)
    ctx.wait_recovered()
    ctx.ledger.current().seconds = time.monotonic() - phase_start


if __name__ == "__main__":
    sys.exit(main())
