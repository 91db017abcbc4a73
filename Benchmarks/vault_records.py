#!/usr/bin/env python3
"""Vault GetRecord and PutRecord (5 PERSONAL/SENSITIVE fields; PutRecord durable) beside the
limits they sit on, all measured in this run on the server's core: AES-256-GCM
(`openssl speed -evp aes-256-gcm`) and a raw SQLite single-row insert loop with
synchronous=FULL in WAL mode. The ratios show how close the service is to the crypto and disk
limits; an empty health Check on the same server shows the gRPC transport's own ceiling. h2load
at 1x1 and 4x32, server pinned to core 0, load to core 1.

usage: Benchmarks/vault_records.py [--seconds N]
"""
import argparse
import base64
import os
import sqlite3
import subprocess
import sys
import tempfile
import time

import grpcload

TOKEN = "benchmark-internal-token-0123456789"
VALUES = {
    "email": "ann.example@example.com",
    "phone": "+4930123456789",
    "birth_date": "1984-03-12",
    "iban": "DE89370400440532013000",
    "health_note": "allergic to penicillin",
}


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
    stub.PutRecord(v.PutRecordRequest(subject_id="subject-1", values=VALUES, source=v.ValueSource(channel=1)), metadata=metadata)


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
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    grpcload.require_tools()
    grpcload.python_stubs("privacy/vault/v1/vault.proto")
    import grpc
    from privacy.vault.v1 import vault_pb2 as v, vault_pb2_grpc as vg

    bin_path = grpcload.build_release("vault-service")
    headers = {"x-internal-token": TOKEN, "x-privacy-actor": "benchmark", "x-privacy-role": "service"}
    get = grpcload.frame(v.GetRecordRequest(subject_id="subject-1"))
    put = grpcload.frame(v.PutRecordRequest(subject_id="subject-1", values=VALUES, source=v.ValueSource(channel=1)))
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
            for name, method, body in (("GetRecord", "privacy.vault.v1.VaultService/GetRecord", get),
                                       ("PutRecord", "privacy.vault.v1.VaultService/PutRecord", put),
                                       ("empty health Check", "grpc.health.v1.Health/Check", b"\x00\x00\x00\x00\x00")):
                for clients, streams in ((1, 1), (4, 32)):
                    qps, p50, p99, failed = grpcload.h2load(server.address, method, body, headers, clients, streams, args.seconds)
                    rows.append((f"{name} {clients}x{streams}", qps, p50, p99))
        finally:
            server.stop()

    gcm = openssl_gcm_ops()
    disk = sqlite_full_inserts()
    grpcload.print_table(f"vault-service, {args.seconds} s per row", rows)
    print(f"\nAES-256-GCM, 64-byte blocks, one core: {gcm:,.0f} ops/s "
          f"(a GetRecord opens 1 wrapped data key + 5 values = 6 ops: {gcm / 6:,.0f} records/s of pure crypto)")
    print(f"SQLite single-row insert, synchronous=FULL, one core: {disk:,.0f} tx/s")
    ceiling = max(qps for name, qps, _, _ in rows if name.startswith("empty health Check"))
    best_get = max(qps for name, qps, _, _ in rows if name.startswith("GetRecord"))
    best_put = max(qps for name, qps, _, _ in rows if name.startswith("PutRecord"))
    print(f"  GetRecord at its best is {best_get / (gcm / 6):.1%} of the crypto limit "
          f"and {best_get / ceiling:.0%} of the transport's (an empty health Check on the same server)")
    print(f"  PutRecord at its best is {best_put / disk:.1%} of the raw durable-insert rate "
          f"(one transaction per call, also logging 5 access-log entries)")


if __name__ == "__main__":
    main()
