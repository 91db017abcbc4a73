#!/usr/bin/env python3
"""How fast a consent replica joins at N subjects, and what it holds in memory.

For each size N, `privacy-suite seed --consent-only` fills a consent ledger (four purposes, about
four events a subject) on SQLite; `privacy-suite migrate` copies it to a database of the private
PostgreSQL cluster. A consent service then starts on each store, on all cores as a joining
replica would have them, and the script prints the time from process start to listening (reading
every subject's kept state and the events after it) and the resident memory once listening, over
several starts. Before a figure is printed, a sample of subjects is asked CheckConsent and must
answer what was seeded.

Beside each row, from the same sitting: a raw read of the same kept states with no service
around it (Python's sqlite3 reading every row; psql copying every row out in binary).

usage: scripts/with-postgres python3 Benchmarks/replica_startup.py [--sizes 1000000] [--starts 3]
         [--bin-dir DIR] [--seeded DIR [--migrated URL]]
  --seeded DIR: a directory already seeded at the one size given (skips seeding).
  --migrated URL: a PostgreSQL database that DIR's ledger was migrated to (skips migrating).
"""
import argparse
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

import grpcload

TOKEN = "benchmark-internal-token-0123456789"


def psql(url, sql):
    return subprocess.run(["psql", url, "-Atqc", sql], check=True, capture_output=True, text=True).stdout.strip()


def sample_check(address, size):
    """A sample of subjects answers the seeder's rule for analytics (granted for even indices)."""
    import grpc
    from privacy.consent.v1 import consent_pb2 as c, consent_pb2_grpc as cg

    stub = cg.ConsentServiceStub(grpc.insecure_channel(address))
    metadata = [("x-internal-token", TOKEN), ("x-privacy-actor", "benchmark"), ("x-privacy-role", "service")]
    for index in random.Random(size).sample(range(size), min(size, 200)):
        answer = stub.CheckConsent(c.CheckConsentRequest(subject_id=f"seed-{index}", purpose_id="analytics"), metadata=metadata)
        expected = c.DECISION_GRANTED if index % 2 == 0 else c.DECISION_DENIED
        if answer.decision != expected:
            sys.exit(f"seed-{index} does not answer what was seeded: {answer.decision}")


def starts(bin_dir, url, size, count):
    """Starts the service `count` times on `url`; returns start-up seconds and resident MiB."""
    seconds, memory = [], []
    for _ in range(count):
        began = time.monotonic()
        server = grpcload.Server([os.path.join(bin_dir, "consent-service")],
                                 {"GRPC_PORT": "0", "INTERNAL_TOKEN": TOKEN, "LOG_LEVEL": "error", "DATABASE_URL": url},
                                 cpu=f"0-{os.cpu_count() - 1}")
        try:
            seconds.append(time.monotonic() - began)
            memory.append(grpcload.rss_mib(server.process.pid))
            sample_check(server.address, size)
        finally:
            server.stop()
    return seconds, memory


def timed(command):
    began = time.monotonic()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - began


def sqlite_raw_read(path):
    code = """
import sqlite3, sys, time
db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
start = time.monotonic(); n = 0
for _ in db.execute("SELECT subject_id, state FROM subject_states"): n += 1
print(time.monotonic() - start)
"""
    out = subprocess.run(["taskset", "-c", grpcload.SERVER_CPU, sys.executable, "-c", code, path], capture_output=True, text=True,
                         check=True).stdout
    return float(out)


def postgres_raw_read(url):
    return timed(["psql", url, "-Atqc", "\\copy (SELECT subject_id, state FROM consent_subject_states) TO '/dev/null' WITH (FORMAT binary)"])


def describe(seconds, memory):
    return (f"{statistics.median(seconds):.2f} s ({min(seconds):.2f}-{max(seconds):.2f})",
            f"{statistics.median(memory):,.0f} MiB")


def measure(bin_dir, size, count, seeded, migrated, cluster):
    rows, notes = [], []
    with tempfile.TemporaryDirectory() as scratch:
        data = seeded or scratch
        if not seeded:
            took = timed([os.path.join(bin_dir, "privacy-suite"), "seed", "--subjects", str(size), "--data-dir", data, "--consent-only"])
            notes.append(f"seeding {size:,} subjects' ledger: {took:.0f} s")
        path = f"{data}/consent-service.sqlite"
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            kept, events = (db.execute("SELECT COUNT(*) FROM subject_states").fetchone()[0],
                            db.execute("SELECT COUNT(*) FROM consent_events").fetchone()[0])
        if kept != size:
            sys.exit(f"the seeded ledger keeps {kept:,} subject states, not {size:,}")
        notes.append(f"{size:,} subjects, {events:,} ledger events")
        rows.append(("SQLite", *describe(*starts(bin_dir, f"sqlite://{path}", size, count)), f"{sqlite_raw_read(path):.2f} s"))
        if migrated:
            rows.append(("PostgreSQL", *describe(*starts(bin_dir, migrated, size, count)), f"{postgres_raw_read(migrated):.2f} s"))
        elif cluster:
            name = f"startup_{size}"
            psql(cluster, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            psql(cluster, f"CREATE DATABASE {name}")
            url = cluster.rsplit("/", 1)[0] + f"/{name}"
            try:
                took = timed([os.path.join(bin_dir, "privacy-suite"), "migrate", "--to", f"{url}?sslmode=disable",
                              "--service", "consent-service", "--from", f"sqlite://{path}"])
                notes.append(f"migrating it to PostgreSQL: {took:.0f} s")
                psql(url, "VACUUM ANALYZE consent_subject_states")
                rows.append(("PostgreSQL", *describe(*starts(bin_dir, f"{url}?sslmode=disable", size, count)),
                             f"{postgres_raw_read(url):.2f} s"))
            finally:
                psql(cluster, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    return rows, notes


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000000")
    parser.add_argument("--starts", type=int, default=3)
    parser.add_argument("--bin-dir")
    parser.add_argument("--seeded")
    parser.add_argument("--migrated")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    if args.seeded and len(sizes) != 1:
        sys.exit("--seeded takes one size")
    if args.migrated and not args.seeded:
        sys.exit("--migrated goes with --seeded")
    grpcload.python_stubs("privacy/consent/v1/consent.proto")
    bin_dir = grpcload.build_release("consent-service", "privacy-suite", bin_dir=args.bin_dir)
    cluster = os.environ.get("PRIVACY_TEST_POSTGRES_URL")
    if not cluster and not args.migrated:
        print("PRIVACY_TEST_POSTGRES_URL is not set: SQLite only (run under scripts/with-postgres for PostgreSQL)")
    print("| size | store | start-up to listening, median (range) | resident memory | raw read of the kept states |")
    print("|---|---|---|---|---|")
    for size in sizes:
        rows, notes = measure(bin_dir, size, args.starts, args.seeded, args.migrated, cluster)
        for store, startup, memory, raw in rows:
            print(f"| {size:,} | {store} | {startup} | {memory} | {raw} |", flush=True)
        for note in notes:
            print(f"  {note}", file=sys.stderr)


if __name__ == "__main__":
    main()
