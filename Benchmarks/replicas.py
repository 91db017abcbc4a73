#!/usr/bin/env python3
"""Consent, vault and blocklist replicas on one PostgreSQL database, all in one run:

- The write (consent RecordConsent, vault PutRecord of five fields, blocklist Add: a durable
  commit per call, for a subject or identifier of its own) on one replica and on two at once,
  beside pgbench inserting single rows into the same server. Each write row is printed only when
  the database holds one new row per acknowledged call (for the vault: one record and five
  access-log entries).
- The read (CheckConsent and Check from memory, the vault's GetRecord from the database) on one
  replica while the other takes writes, beside the same replica with no writes.
- Replication lag: from the moment replica A acknowledged a write until replica B answers it (B
  asked in a loop), p50 and p99; for the vault, a field defined on A until B lists it.

Replicas run on core 0, the load on core 1, PostgreSQL where the scheduler puts it. Run it inside
the private cluster that `scripts/with-postgres` makes (it sets PRIVACY_TEST_POSTGRES_URL).

usage: scripts/with-postgres python3 Benchmarks/replicas.py [--seconds N] [--bin-dir DIR]
"""
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


class Service:
    """One service's part of the run: its executable, its write, its read and what to count."""

    def __init__(self, name, executable, env, write, make_write, count_sql, read, read_request, seed, lag_write, lag_seen,
                 rows_per_write=(1,)):
        self.name, self.executable, self.env = name, executable, env
        self.write, self.make_write, self.count_sql = write, make_write, count_sql
        self.read, self.read_request = read, read_request
        self.seed, self.lag_write, self.lag_seen = seed, lag_write, lag_seen
        # What `count_sql` counts (space-separated counts) grows by per acknowledged write.
        self.rows_per_write = rows_per_write


def consent(grpc, metadata):
    from privacy.consent.v1 import consent_pb2 as c, consent_pb2_grpc as cg

    stub = functools.lru_cache(lambda address: cg.ConsentServiceStub(grpc.insecure_channel(address)))

    def record(offset, i):
        return c.RecordConsentRequest(subject_id=f"s-{offset + i}", purpose_id="newsletter", decision=c.DECISION_GRANTED,
                                      evidence=c.Evidence(channel=1)).SerializeToString()

    def seed(address):
        stub(address).UpsertPurpose(c.UpsertPurposeRequest(purpose=c.Purpose(
            purpose_id="newsletter", title="Newsletter", legal_basis=c.LEGAL_BASIS_CONSENT,
            category=c.PURPOSE_CATEGORY_EMAIL_MARKETING, notice_version="v1", notice_text="We send news.")), metadata=metadata)

    def lag_write(address, i):
        stub(address).RecordConsent(c.RecordConsentRequest(
            subject_id=f"lag-{i}", purpose_id="newsletter", decision=c.DECISION_GRANTED, evidence=c.Evidence(channel=1)),
            metadata=metadata)

    def lag_seen(address, i):
        return stub(address).CheckConsent(
            c.CheckConsentRequest(subject_id=f"lag-{i}", purpose_id="newsletter"), metadata=metadata).allowed

    return Service("consent", "consent-service", {}, "/privacy.consent.v1.ConsentService/RecordConsent", record,
                   "SELECT COUNT(*) FROM consent_events", "privacy.consent.v1.ConsentService/CheckConsent",
                   c.CheckConsentRequest(subject_id="s-1", purpose_id="newsletter"), seed, lag_write, lag_seen)


VAULT_FIELDS = ["email", "name", "phone", "zip", "segment"]


def vault(grpc, metadata):
    from privacy.vault.v1 import vault_pb2 as v, vault_pb2_grpc as vg

    stub = functools.lru_cache(lambda address: vg.VaultServiceStub(grpc.insecure_channel(address)))
    source = v.ValueSource(channel=1, form_name="signup", actor_kind=1)

    def put(offset, i):
        n = offset + i
        return v.PutRecordRequest(subject_id=f"s-{n}", source=source, values={
            "email": f"person.{n}@example.com", "name": f"Person {n}", "phone": f"+4930{n:09d}", "zip": f"{10000 + n % 900}",
            "segment": ("gold", "silver", "bronze")[n % 3]}).SerializeToString()

    def seed(address):
        classes = {"email": v.CLASSIFICATION_PERSONAL, "name": v.CLASSIFICATION_PERSONAL, "phone": v.CLASSIFICATION_SENSITIVE,
                   "zip": v.CLASSIFICATION_NONE, "segment": v.CLASSIFICATION_NONE}
        for name in VAULT_FIELDS:
            stub(address).UpsertField(v.UpsertFieldRequest(name=name, classification=classes[name]), metadata=metadata)
        stub(address).PutRecord(v.PutRecordRequest(subject_id="s-read", source=source, values={"email": "read@example.com"}),
                                metadata=metadata)

    def lag_write(address, i):
        stub(address).UpsertField(v.UpsertFieldRequest(name=f"lag_{i}", classification=v.CLASSIFICATION_NONE), metadata=metadata)

    def lag_seen(address, i):
        fields = stub(address).ListFields(v.ListFieldsRequest(page_size=1000), metadata=metadata).fields
        return any(field.name == f"lag_{i}" for field in fields)

    return Service("vault", "vault-service", {"VAULT_MASTER_KEY": base64.b64encode(bytes(range(32))).decode()},
                   "/privacy.vault.v1.VaultService/PutRecord", put,
                   "SELECT (SELECT COUNT(*) FROM vault_records) || ' ' || (SELECT COUNT(*) FROM vault_access_log)",
                   "privacy.vault.v1.VaultService/GetRecord", v.GetRecordRequest(subject_id="s-read"), seed, lag_write, lag_seen,
                   rows_per_write=(1, len(VAULT_FIELDS)))


def blocklist(grpc, metadata):
    from privacy.blocklist.v1 import blocklist_pb2 as b, blocklist_pb2_grpc as bg

    stub = functools.lru_cache(lambda address: bg.BlocklistServiceStub(grpc.insecure_channel(address)))

    def add(offset, i):
        return b.AddRequest(identifiers=[b.Identifier(kind=b.IDENTIFIER_KIND_EMAIL, value=f"person-{offset + i}@example.com")],
                            reason="benchmark", request_id=f"r-{offset + i}").SerializeToString()

    def identifier(i):
        return b.Identifier(kind=b.IDENTIFIER_KIND_EMAIL, value=f"lag-{i}@example.com")

    def lag_write(address, i):
        stub(address).Add(
            b.AddRequest(identifiers=[identifier(i)], reason="benchmark", request_id=f"lag-{i}"), metadata=metadata)

    def lag_seen(address, i):
        return stub(address).Check(
            b.CheckRequest(identifiers=[identifier(i)]), metadata=metadata).matches[0].matched

    return Service("blocklist", "blocklist-service", {"BLOCKLIST_PEPPER": base64.b64encode(bytes(32)).decode()},
                   "/privacy.blocklist.v1.BlocklistService/Add", add,
                   "SELECT COUNT(*) FROM blocklist_entries WHERE hash IS NOT NULL", "privacy.blocklist.v1.BlocklistService/Check",
                   b.CheckRequest(identifiers=[b.Identifier(kind=b.IDENTIFIER_KIND_EMAIL, value="person-1@example.com")]),
                   lambda address: None, lag_write, lag_seen)


def psql(url, sql):
    return subprocess.run(["psql", url, "-Atqc", sql], check=True, capture_output=True, text=True).stdout.strip()


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


class Writes:
    """Write loads with subjects or identifiers never used before, each checked against the database."""

    def __init__(self, service, url, metadata, seconds):
        self.service, self.url, self.metadata, self.seconds = service, url, metadata, seconds
        self.offset = 0
        self.checks = []

    def rows(self):
        return [int(count) for count in psql(self.url, self.service.count_sql).split()]

    def run(self, name, addresses, connections, streams):
        """Loads every address at once (threads); returns the row, or exits when the check fails."""
        before = self.rows()
        results = [None] * len(addresses)

        def load(index, address, offset):
            results[index] = distinct_load.run(address, self.service.write, functools.partial(self.service.make_write, offset),
                                               self.metadata, self.seconds, connections=connections, streams=streams)

        threads = []
        for index, address in enumerate(addresses):
            threads.append(threading.Thread(target=load, args=(index, address, self.offset + index * 10_000_000)))
            threads[-1].start()
        for thread in threads:
            thread.join()
        self.offset += len(addresses) * 10_000_000
        acknowledged = sum(result.acknowledged for result in results)
        added = [after - earlier for after, earlier in zip(self.rows(), before)]
        expected = [acknowledged * per for per in self.service.rows_per_write]
        statuses = "; ".join(result.describe_statuses() for result in results)
        check = (f"{self.service.name} {name}: {acknowledged:,} acknowledged, rows added {' and '.join(f'{n:,}' for n in added)} "
                 f"(expected {' and '.join(f'{n:,}' for n in expected)}); statuses: {statuses}")
        self.checks.append(check)
        if any(result.statuses.keys() != {"OK"} for result in results) or added != expected:
            sys.exit(f"write check failed, no figure printed: {check}")
        qps = sum(result.qps for result in results)
        p50 = statistics.mean(result.p50 for result in results)
        p99 = max(result.p99 for result in results)
        return name, qps, p50, p99


def replication_lag(service, a, b, samples):
    """Milliseconds from A's acknowledgement of a write until B answers it, for `samples` writes."""
    lags = []
    for i in range(samples):
        service.lag_write(a, i)
        acknowledged = time.perf_counter()
        while not service.lag_seen(b, i):
            pass
        lags.append((time.perf_counter() - acknowledged) * 1000)
    lags.sort()
    return statistics.median(lags), lags[min(len(lags) - 1, int(len(lags) * 0.99))], lags[-1]


def measure(service, cluster, bin_path, metadata, headers, seconds):
    """The service's rows on a database of its own: (write rows, read rows, lag, checks)."""
    name = f"bench_{service.name}_{os.getpid()}"
    psql(cluster, f"CREATE DATABASE {name}")
    url = cluster.replace("/postgres?", f"/{name}?")
    env = {"GRPC_PORT": "0", "INTERNAL_TOKEN": TOKEN, "LOG_LEVEL": "error", "DATABASE_URL": url, **service.env}
    executable = os.path.join(bin_path, service.executable)
    replicas = []
    try:
        replicas.append(grpcload.Server([executable], env))
        service.seed(replicas[0].address)
        writes = Writes(service, url, metadata, seconds)
        write_rows = [writes.run("1 replica, 1x1", [replicas[0].address], 1, 1),
                      writes.run("1 replica, 4x16", [replicas[0].address], 4, 16)]
        replicas.append(grpcload.Server([executable], env))
        write_rows.append(writes.run("2 replicas, 2x16 on each", [r.address for r in replicas], 2, 16))
        psql(url, "CREATE TABLE bench_insert (id BIGSERIAL PRIMARY KEY, value TEXT NOT NULL)")
        for clients in (1, 16):
            tps, latency = pgbench(url, clients, seconds)
            write_rows.append((f"pgbench single-row INSERT, {clients} client(s)", tps, latency, float("nan")))

        read = grpcload.frame(service.read_request)
        idle = grpcload.h2load(replicas[1].address, service.read, read, headers, 4, 32, seconds)
        read_rows = [("on B, no writes, 4x32", idle.qps, idle.p50, idle.p99)]
        writer = threading.Thread(target=writes.run, args=("on A during reads on B, 1x4", [replicas[0].address], 1, 4))
        writer.start()
        time.sleep(1.5)  # past the writer's warm-up
        busy = grpcload.h2load(replicas[1].address, service.read, read, headers, 4, 32, seconds - 2)
        writer.join()
        read_rows.append(("on B, A taking writes, 4x32", busy.qps, busy.p50, busy.p99))
        lag = replication_lag(service, replicas[0].address, replicas[1].address, 300)
    finally:
        for replica in replicas:
            replica.stop()
        psql(cluster, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    return write_rows, read_rows, lag, writes.checks


def main():
    args = grpcload.load_arguments()
    cluster = os.environ.get("PRIVACY_TEST_POSTGRES_URL")
    if not cluster:
        sys.exit("run inside the private cluster: scripts/with-postgres Benchmarks/replicas.py")
    if shutil.which("pgbench") is None:
        sys.exit("missing pgbench: apt-get install postgresql-client")
    grpcload.require_tools()
    grpcload.python_stubs("privacy/consent/v1/consent.proto", "privacy/vault/v1/vault.proto", "privacy/blocklist/v1/blocklist.proto")
    import grpc

    bin_path = grpcload.build_release("consent-service", "vault-service", "blocklist-service", bin_dir=args.bin_dir)
    headers = {"x-internal-token": TOKEN, "x-privacy-actor": "benchmark", "x-privacy-role": "service"}
    metadata = list(headers.items())
    checks = []
    for service in (consent(grpc, metadata), vault(grpc, metadata), blocklist(grpc, metadata)):
        write_rows, read_rows, (p50, p99, worst), service_checks = measure(service, cluster, bin_path, metadata, headers, args.seconds)
        checks += service_checks
        grpcload.print_table(f"{service.name} replicas on PostgreSQL: {service.write.split('/')[-1]}, {args.seconds} s per row "
                             "(pgbench: p50 column is its average)", write_rows)
        grpcload.print_table(f"{service.name} replicas on PostgreSQL: {service.read.split('/')[-1]} on one replica", read_rows)
        print(f"\nreplication lag, A's acknowledgement until B answers (300 writes): p50 {p50:.2f} ms, p99 {p99:.2f} ms, "
              f"worst {worst:.2f} ms")
    print("\nwrite checks (rows in the database after each write row):")
    for line in checks:
        print(f"  {line}")


if __name__ == "__main__":
    main()
