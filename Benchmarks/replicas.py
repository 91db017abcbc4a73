#!/usr/bin/env python3
"""Blocklist replicas on one PostgreSQL database, all in one run:

- Add (a durable write: one commit per call, one identifier of its own per call) on one replica
  and on two at once, beside pgbench inserting single rows into the same server. Each Add row is
  printed only when the database holds one active entry per acknowledged call.
- Check on one replica while the other takes writes, beside the same replica with no writes.
- Replication lag: from the moment replica A acknowledged an Add until replica B answers it
  (B asked in a loop), p50 and p99.

Replicas run on core 0, the load on core 1, PostgreSQL where the scheduler puts it. Run it inside
the private cluster that `scripts/with-postgres` makes (it sets PRIVACY_TEST_POSTGRES_URL).

usage: scripts/with-postgres Benchmarks/replicas.py [--seconds N] [--bin-dir DIR]
"""
import argparse
import base64
import functools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import distinct_load
import grpcload

TOKEN = "benchmark-internal-token-0123456789"
ADD = "/privacy.blocklist.v1.BlocklistService/Add"
CHECK = "privacy.blocklist.v1.BlocklistService/Check"


def add_request(offset, i):
    """Add number i of a run starting at `offset`: one address of its own."""
    from privacy.blocklist.v1 import blocklist_pb2 as b
    return b.AddRequest(identifiers=[b.Identifier(kind=b.IDENTIFIER_KIND_EMAIL, value=f"person-{offset + i}@example.com")],
                        reason="benchmark", request_id=f"r-{offset + i}").SerializeToString()


def psql(url, sql):
    return subprocess.run(["psql", url, "-Atqc", sql], check=True, capture_output=True, text=True).stdout.strip()


def active_entries(url):
    return int(psql(url, "SELECT COUNT(*) FROM blocklist_entries WHERE hash IS NOT NULL"))


def pgbench(url, clients, seconds):
    """(transactions per second, average latency in ms) of single-row inserts."""
    with tempfile.NamedTemporaryFile("w", suffix=".sql") as script:
        script.write("INSERT INTO bench_insert (value) VALUES ('person@example.com');\n")
        script.flush()
        out = subprocess.run(["taskset", "-c", grpcload.LOAD_CPU, "pgbench", "-n", "-f", script.name, "-c", str(clients), "-j", "1",
                              "-T", str(seconds), url], check=True, capture_output=True, text=True).stdout
    tps = float(next(line for line in out.splitlines() if line.startswith("tps")).split()[2])
    latency = float(next(line for line in out.splitlines() if line.startswith("latency average")).split()[3])
    return tps, latency


class Adds:
    """Add loads with identifiers never used before, each checked against the database."""

    def __init__(self, url, metadata, seconds):
        self.url, self.metadata, self.seconds = url, metadata, seconds
        self.offset = 0
        self.checks = []

    def run(self, name, addresses, connections, streams):
        """Loads every address at once (threads); returns the row, or exits when the check fails."""
        before = active_entries(self.url)
        results = [None] * len(addresses)

        def load(index, address, offset):
            results[index] = distinct_load.run(address, ADD, functools.partial(add_request, offset), self.metadata, self.seconds,
                                               connections=connections, streams=streams)

        threads = []
        for index, address in enumerate(addresses):
            threads.append(threading.Thread(target=load, args=(index, address, self.offset + index * 10_000_000)))
            threads[-1].start()
        for thread in threads:
            thread.join()
        self.offset += len(addresses) * 10_000_000
        acknowledged = sum(result.acknowledged for result in results)
        added = active_entries(self.url) - before
        statuses = "; ".join(result.describe_statuses() for result in results)
        check = f"{name}: {acknowledged:,} acknowledged, {added:,} active entries added; statuses: {statuses}"
        self.checks.append(check)
        if any(result.statuses.keys() != {"OK"} for result in results) or added != acknowledged:
            sys.exit(f"write check failed, no figure printed: {check}")
        qps = sum(result.qps for result in results)
        p50 = statistics.mean(result.p50 for result in results)
        p99 = max(result.p99 for result in results)
        return name, qps, p50, p99


def replication_lag(a, b, metadata, samples):
    """Milliseconds from A's acknowledgement of an Add until B answers it, for `samples` Adds."""
    from privacy.blocklist.v1 import blocklist_pb2 as pb
    lags = []
    for i in range(samples):
        identifier = pb.Identifier(kind=pb.IDENTIFIER_KIND_EMAIL, value=f"lag-{i}@example.com")
        a.Add(pb.AddRequest(identifiers=[identifier], reason="benchmark", request_id=f"lag-{i}"), metadata=metadata)
        acknowledged = time.perf_counter()
        while not b.Check(pb.CheckRequest(identifiers=[identifier]), metadata=metadata).matches[0].matched:
            pass
        lags.append((time.perf_counter() - acknowledged) * 1000)
    lags.sort()
    return statistics.median(lags), lags[min(len(lags) - 1, int(len(lags) * 0.99))], lags[-1]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--bin-dir", help="use release executables already built there")
    args = parser.parse_args()
    cluster = os.environ.get("PRIVACY_TEST_POSTGRES_URL")
    if not cluster:
        sys.exit("run inside the private cluster: scripts/with-postgres Benchmarks/replicas.py")
    if shutil.which("pgbench") is None:
        sys.exit("missing pgbench: apt-get install postgresql-client")
    grpcload.require_tools()
    grpcload.python_stubs("privacy/blocklist/v1/blocklist.proto")
    import grpc
    from privacy.blocklist.v1 import blocklist_pb2 as b, blocklist_pb2_grpc as bg

    bin_path = grpcload.build_release("blocklist-service", bin_dir=args.bin_dir)
    name = f"bench_{os.getpid()}"
    psql(cluster, f"CREATE DATABASE {name}")
    url = cluster.replace("/postgres?", f"/{name}?")
    headers = {"x-internal-token": TOKEN, "x-privacy-actor": "benchmark", "x-privacy-role": "service"}
    metadata = list(headers.items())
    env = {"GRPC_PORT": "0", "INTERNAL_TOKEN": TOKEN, "LOG_LEVEL": "error", "DATABASE_URL": url,
           "BLOCKLIST_PEPPER": base64.b64encode(bytes(32)).decode()}
    replicas = []
    try:
        replicas.append(grpcload.Server([os.path.join(bin_path, "blocklist-service")], env))
        adds = Adds(url, metadata, args.seconds)
        write_rows = [adds.run("Add, 1 replica, 1x1", [replicas[0].address], 1, 1),
                      adds.run("Add, 1 replica, 4x16", [replicas[0].address], 4, 16)]
        replicas.append(grpcload.Server([os.path.join(bin_path, "blocklist-service")], env))
        write_rows.append(adds.run("Add, 2 replicas, 2x16 on each", [r.address for r in replicas], 2, 16))
        psql(url, "CREATE TABLE bench_insert (id BIGSERIAL PRIMARY KEY, value TEXT NOT NULL)")
        for clients in (1, 16):
            tps, latency = pgbench(url, clients, args.seconds)
            write_rows.append((f"pgbench single-row INSERT, {clients} client(s)", tps, latency, float("nan")))

        check = b.CheckRequest(identifiers=[b.Identifier(kind=b.IDENTIFIER_KIND_EMAIL, value="person-1@example.com")])
        stub_a = bg.BlocklistServiceStub(grpc.insecure_channel(replicas[0].address))
        stub_b = bg.BlocklistServiceStub(grpc.insecure_channel(replicas[1].address))
        if not stub_b.Check(check, metadata=metadata).matches[0].matched:
            sys.exit("replica B does not answer an entry added through A")
        read_rows = []
        idle = grpcload.h2load(replicas[1].address, CHECK, grpcload.frame(check), headers, 4, 32, args.seconds)
        read_rows.append(("Check on B, no writes, 4x32", idle.qps, idle.p50, idle.p99))
        writer = threading.Thread(target=adds.run, args=("Add on A during Check on B, 1x4", [replicas[0].address], 1, 4))
        writer.start()
        time.sleep(1.5)  # past the writer's warm-up
        busy = grpcload.h2load(replicas[1].address, CHECK, grpcload.frame(check), headers, 4, 32, args.seconds - 2)
        writer.join()
        read_rows.append(("Check on B, A taking writes, 4x32", busy.qps, busy.p50, busy.p99))

        p50, p99, worst = replication_lag(stub_a, stub_b, metadata, 300)
    finally:
        for replica in replicas:
            replica.stop()
        psql(cluster, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    grpcload.print_table(f"Blocklist replicas on PostgreSQL: writes, {args.seconds} s per row (pgbench: p50 column is its average)",
                         write_rows)
    grpcload.print_table("Blocklist replicas on PostgreSQL: reads on one replica", read_rows)
    print(f"\nreplication lag, A's acknowledgement until B answers (300 adds): p50 {p50:.2f} ms, p99 {p99:.2f} ms, "
          f"worst {worst:.2f} ms")
    print("\nwrite checks (active entries in the database after each Add row):")
    for line in adds.checks:
        print(f"  {line}")


if __name__ == "__main__":
    main()
