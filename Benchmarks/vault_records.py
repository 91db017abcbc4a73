#!/usr/bin/env python3
"""Vault GetRecord, GetRecords of 100 subjects and PutRecord (5 PERSONAL/SENSITIVE fields; PutRecord durable) beside the
limits they sit on, all measured in this run on the server's core: AES-256-GCM
(`openssl speed -evp aes-256-gcm`) and a raw SQLite single-row insert loop with
synchronous=FULL in WAL mode. The ratios show how close the service is to the crypto and disk
limits; an empty health Check on the same server shows the gRPC transport's own ceiling. Server
pinned to core 0, load to core 1.

GetRecord and health re-send one body with h2load at 1x1 and 4x32. PutRecord writes a new subject
with its own values on every call (distinct_load.py, 1x1 and 4 connections x 16 in flight), and the
figures are printed only when the database afterwards holds every acknowledged write: one record
more per OK call, at version 1, and five access-log entries more per OK call.

usage: Benchmarks/vault_records.py [--seconds N] [--bin-dir DIR]
"""
import base64
import functools
import os
import sqlite3
import subprocess
import sys
import tempfile

import distinct_load
import grpcload

TOKEN = "benchmark-internal-token-0123456789"
VALUES = {
    "email": "ann.example@example.com",
    "phone": "+4930123456789",
    "birth_date": "1984-03-12",
    "iban": "DE89370400440532013000",
    "health_note": "allergic to penicillin",
}


def put_request(i):
    """PutRecord for benchmark subject i: a subject and values of its own (distinct_load builds the requests with it)."""
    from privacy.vault.v1 import vault_pb2 as v

    values = {
        "email": f"person.{i}@example.com",
        "phone": f"+4930{i:09d}",
        "birth_date": f"19{50 + i % 50}-0{1 + i % 9}-1{i % 10}",
        "iban": f"DE89370400440{i:09d}",
        "health_note": f"note {i}",
    }
    return v.PutRecordRequest(subject_id=f"bench-{i}", values=values, source=v.ValueSource(channel=1)).SerializeToString()


def database_counts(path):
    """(records, records at a version other than 1, access-log entries) in the vault's file."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        records, = db.execute("SELECT COUNT(*) FROM records").fetchone()
        rewritten, = db.execute("SELECT COUNT(*) FROM records WHERE version != 1").fetchone()
        entries, = db.execute("SELECT COUNT(*) FROM access_log").fetchone()
    return records, rewritten, entries


def put_rows(address, database, headers, seconds):
    """PutRecord at 1x1 and 4x16 with distinct requests; each row only once its writes are found."""
    rows, checks = [], []
    offset = 0
    for connections, streams in ((1, 1), (4, 16)):
        before = database_counts(database)
        result = distinct_load.run(address, "/privacy.vault.v1.VaultService/PutRecord", functools.partial(_offset_put, offset),
                                   list(headers.items()), seconds, connections=connections, streams=streams)
        offset += result.highest_index + 1
        after = database_counts(database)
        added, rewritten, logged = after[0] - before[0], after[1] - before[1], after[2] - before[2]
        check = (f"PutRecord {connections}x{streams}: {result.acknowledged:,} acknowledged, {added:,} records added "
                 f"({rewritten} rewritten), {logged:,} access-log entries added (expected {5 * result.acknowledged:,}); "
                 f"statuses: {result.describe_statuses()}")
        checks.append(check)
        if result.statuses.keys() != {"OK"} or added != result.acknowledged or rewritten or logged != 5 * result.acknowledged:
            sys.exit(f"write check failed, no figure printed: {check}")
        rows.append((f"PutRecord {connections}x{streams} (distinct)", result.qps, result.p50, result.p99))
    return rows, checks


def _offset_put(offset, i):
    return put_request(offset + i)


BATCH_SUBJECTS = 100


def seed(address, v, vg, grpc, metadata):
    stub = vg.VaultServiceStub(grpc.insecure_channel(address))
    personal, sensitive = v.CLASSIFICATION_PERSONAL, v.CLASSIFICATION_SENSITIVE
    for name, classification, mask, extra in (
        ("email", personal, v.MASK_EMAIL, {"searchable": True}),
        ("phone", personal, v.MASK_LAST4, {}),
        ("birth_date", personal, v.MASK_FULL, {}),
        ("iban", sensitive, v.MASK_LAST4, {"tags": ["billing"]}),
        ("health_note", sensitive, v.MASK_FULL, {"special_category": v.SPECIAL_CATEGORY_HEALTH}),
    ):
        stub.UpsertField(v.UpsertFieldRequest(name=name, classification=classification, mask=mask, **extra), metadata=metadata)
    for i in range(1, BATCH_SUBJECTS + 1):
        stub.PutRecord(v.PutRecordRequest(subject_id=f"subject-{i}", values=VALUES, source=v.ValueSource(channel=1)), metadata=metadata)


def openssl_gcm_ops(size=64, seconds=3):
    """AES-256-GCM operations per second on `size`-byte blocks, one core."""
    result = subprocess.run(["taskset", "-c", grpcload.SERVER_CPU, "openssl", "speed", "-evp", "aes-256-gcm", "-seconds",
                             str(seconds), "-bytes", str(size)], capture_output=True, text=True)
    for line in result.stdout.splitlines():
        if line.lower().startswith("aes-256-gcm"):
            kilobytes = float(line.split()[-1].rstrip("k"))
            return kilobytes * 1000 / size
    sys.exit(f"could not read openssl speed output:\n{result.stdout}{result.stderr}")


def sqlite_full_inserts(seconds=3):
    """Single-row inserts per second, each its own transaction, synchronous=FULL, WAL."""
    code = f"""
import sqlite3, time, sys
path = sys.argv[1]
c = sqlite3.connect(path, isolation_level=None)
c.execute("PRAGMA journal_mode=WAL"); c.execute("PRAGMA synchronous=FULL")
c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)")
n = 0; start = time.time(); blob = bytes(300)
while time.time() - start < {seconds}:
    c.execute("BEGIN"); c.execute("INSERT INTO t (v) VALUES (?)", (blob,)); c.execute("COMMIT"); n += 1
print(n / (time.time() - start))
"""
    with tempfile.TemporaryDirectory() as scratch:
        out = subprocess.run(["taskset", "-c", grpcload.SERVER_CPU, sys.executable, "-c", code, os.path.join(scratch, "raw.sqlite")],
                             capture_output=True, text=True, check=True).stdout
    return float(out)


def main():
    args = grpcload.load_arguments()
    grpcload.require_tools()
    grpcload.python_stubs("privacy/vault/v1/vault.proto")
    import grpc
    from privacy.vault.v1 import vault_pb2 as v, vault_pb2_grpc as vg

    bin_path = grpcload.build_release("vault-service", bin_dir=args.bin_dir)
    headers = {"x-internal-token": TOKEN, "x-privacy-actor": "benchmark", "x-privacy-role": "service"}
    get = grpcload.frame(v.GetRecordRequest(subject_id="subject-1"))
    rows = []
    with tempfile.TemporaryDirectory() as data:
        env = {"GRPC_PORT": "0", "INTERNAL_TOKEN": TOKEN, "LOG_LEVEL": "error", "DATABASE_URL": f"sqlite://{data}/vault.sqlite",
               "VAULT_MASTER_KEY": base64.b64encode(os.urandom(32)).decode()}
        server = grpcload.Server([os.path.join(bin_path, "vault-service")], env)
        try:
            seed(server.address, v, vg, grpc, list(headers.items()))
            record = vg.VaultServiceStub(grpc.insecure_channel(server.address)).GetRecord(
                v.GetRecordRequest(subject_id="subject-1"), metadata=list(headers.items()))
            if len(record.record.fields) < 5:
                sys.exit(f"unexpected record: {record}")
            batch = v.GetRecordsRequest(subject_ids=[f"subject-{i}" for i in range(1, BATCH_SUBJECTS + 1)])
            results = vg.VaultServiceStub(grpc.insecure_channel(server.address)).GetRecords(batch, metadata=list(headers.items())).results
            if len(results) != BATCH_SUBJECTS or any(len(result.record.fields) < 5 for result in results):
                sys.exit(f"unexpected GetRecords answer: {len(results)} results")
            for name, method, body in (("GetRecord", "privacy.vault.v1.VaultService/GetRecord", get),
                                       (f"GetRecords of {BATCH_SUBJECTS}", "privacy.vault.v1.VaultService/GetRecords", grpcload.frame(batch)),
                                       ("empty health Check", "grpc.health.v1.Health/Check", b"\x00\x00\x00\x00\x00")):
                for clients, streams in ((1, 1), (4, 32)):
                    qps, p50, p99, failed, _ = grpcload.h2load(server.address, method, body, headers, clients, streams, args.seconds)
                    rows.append((f"{name} {clients}x{streams}", qps, p50, p99))
            put, checks = put_rows(server.address, f"{data}/vault.sqlite", headers, args.seconds)
            rows += put
        finally:
            server.stop()

    gcm = openssl_gcm_ops()
    disk = sqlite_full_inserts()
    grpcload.print_table(f"vault-service, {args.seconds} s per row", rows)
    print("\nwrite checks (the database after each PutRecord row):")
    for check in checks:
        print(f"  {check}")
    print(f"\nAES-256-GCM, 64-byte blocks, one core: {gcm:,.0f} ops/s "
          f"(a GetRecord opens 1 wrapped data key + 5 values = 6 ops: {gcm / 6:,.0f} records/s of pure crypto)")
    print(f"SQLite single-row insert, synchronous=FULL, one core: {disk:,.0f} tx/s")
    ceiling = max(qps for name, qps, _, _ in rows if name.startswith("empty health Check"))
    best_get = max(qps for name, qps, _, _ in rows if name.startswith("GetRecord"))
    best_put = max(qps for name, qps, _, _ in rows if name.startswith("PutRecord"))
    best_batch = max(qps for name, qps, _, _ in rows if name.startswith("GetRecords"))
    print(f"  GetRecord at its best is {best_get / (gcm / 6):.1%} of the crypto limit "
          f"and {best_get / ceiling:.0%} of the transport's (an empty health Check on the same server)")
    print(f"  GetRecords at its best reads {best_batch * BATCH_SUBJECTS:,.0f} records/s, "
          f"{best_batch * BATCH_SUBJECTS / best_get:.1f}x GetRecord's records/s")
    print(f"  PutRecord at its best is {best_put / disk:.1%} of the raw durable-insert rate "
          f"(one transaction per call, a new record of 5 values and 5 access-log entries)")


if __name__ == "__main__":
    main()
