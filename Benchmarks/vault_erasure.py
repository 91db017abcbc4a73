#!/usr/bin/env python3
"""Vault ErasePersonalData as the vault grows: the k-anonymity check reads counts kept as the
data changes, so an erasure should cost the same at any number of records.

The vault is filled through PutRecord (distinct subjects, each with a PERSONAL email and the
NONE quasi-identifiers zip, birth_date and gender) to each size in turn; at each size one client
erases distinct subjects one after the other (1x1) for the given time. A row is printed only when
the database afterwards holds every acknowledged erasure (records marked erased) and the
population is what was asked. Beside the rows: the raw SQLite durable-insert rate measured in
the same run (an erasure is one such transaction), and the ratio of the largest size's p50 to
the smallest's. Server pinned to core 0, load to core 1.

usage: Benchmarks/vault_erasure.py [--seconds N] [--sizes 2000,50000]
"""
import argparse
import base64
import functools
import os
import sqlite3
import sys
import tempfile

import distinct_load
import grpcload
import vault_records

TOKEN = "benchmark-internal-token-0123456789"


def put_request(i):
    """PutRecord for subject i: an email and three quasi-identifiers drawn from small domains, so
    that most combinations are shared by several records and some are not."""
    from privacy.vault.v1 import vault_pb2 as v

    values = {
        "email": f"person.{i}@example.com",
        "zip": f"{10000 + i % 400}",
        "birth_date": f"19{50 + i % 50}-0{1 + i % 9}-1{i % 10}",
        "gender": "f" if i % 2 else "m",
    }
    return v.PutRecordRequest(subject_id=f"bench-{i}", values=values, source=v.ValueSource(channel=1)).SerializeToString()


def _put_from(first, i):
    return put_request(first + i)


def _erase_from(first, i):
    from privacy.vault.v1 import vault_pb2 as v

    return v.ErasePersonalDataRequest(subject_id=f"bench-{first + i}", reason="benchmark").SerializeToString()


def database_counts(path):
    """(records, records erased) in the vault's file."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        records, = db.execute("SELECT COUNT(*) FROM records").fetchone()
        erased, = db.execute("SELECT COUNT(*) FROM records WHERE erasure IS NOT NULL").fetchone()
    return records, erased


def define_fields(address, headers):
    import grpc
    from privacy.vault.v1 import vault_pb2 as v, vault_pb2_grpc as vg

    stub = vg.VaultServiceStub(grpc.insecure_channel(address))
    for request in (
        v.UpsertFieldRequest(name="email", classification=v.CLASSIFICATION_PERSONAL, mask=v.MASK_EMAIL, searchable=True),
        v.UpsertFieldRequest(name="zip", classification=v.CLASSIFICATION_NONE, tags=["quasi_identifier"],
                             generalization=v.GeneralizationRule(keep_prefix=3)),
        v.UpsertFieldRequest(name="birth_date", classification=v.CLASSIFICATION_NONE, tags=["quasi_identifier"],
                             generalization=v.GeneralizationRule(year_only=v.GeneralizationRule.YearOnly())),
        v.UpsertFieldRequest(name="gender", classification=v.CLASSIFICATION_NONE, tags=["quasi_identifier"]),
    ):
        stub.UpsertField(request, metadata=list(headers.items()))


def fill(address, database, headers, size):
    """PutRecord until the vault holds `size` records (4 processes x 16 in flight)."""
    have, _ = database_counts(database)
    if have >= size:
        return
    result = distinct_load.run(address, "/privacy.vault.v1.VaultService/PutRecord", functools.partial(_put_from, have),
                               list(headers.items()), seconds=3600, warm_up=0, limit=size - have)
    records, _ = database_counts(database)
    if records != size or result.acknowledged < size - have:
        sys.exit(f"filling to {size:,} failed: {records:,} records, statuses {result.describe_statuses()}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--sizes", default="2000,50000")
    args = parser.parse_args()
    sizes = sorted(int(size) for size in args.sizes.split(","))
    grpcload.require_tools()
    grpcload.python_stubs("privacy/vault/v1/vault.proto")

    bin_path = grpcload.build_release("vault-service")
    headers = {"x-internal-token": TOKEN, "x-privacy-actor": "benchmark", "x-privacy-role": "service"}
    rows, checks = [], []
    with tempfile.TemporaryDirectory() as data:
        database = f"{data}/vault.sqlite"
        env = {"GRPC_PORT": "0", "INTERNAL_TOKEN": TOKEN, "LOG_LEVEL": "error", "DATABASE_URL": f"sqlite://{database}",
               "VAULT_MASTER_KEY": base64.b64encode(os.urandom(32)).decode()}
        server = grpcload.Server([os.path.join(bin_path, "vault-service")], env)
        try:
            define_fields(server.address, headers)
            first = 0  # the next subject to erase: erasures walk the records in order
            for size in sizes:
                fill(server.address, database, headers, size)
                before = database_counts(database)
                result = distinct_load.run(server.address, "/privacy.vault.v1.VaultService/ErasePersonalData",
                                           functools.partial(_erase_from, first), list(headers.items()),
                                           args.seconds, processes=1, concurrency=1, limit=size - first)
                after = database_counts(database)
                erased = after[1] - before[1]
                check = (f"ErasePersonalData at {size:,} records: {result.acknowledged:,} acknowledged, {erased:,} records "
                         f"marked erased, {after[0]:,} records; statuses: {result.describe_statuses()}")
                checks.append(check)
                if result.statuses.keys() != {"OK"} or erased != result.acknowledged or after[0] != size:
                    sys.exit(f"erasure check failed, no figure printed: {check}")
                if first + result.highest_index + 1 >= size:
                    sys.exit(f"ran out of records to erase at {size:,}: give a larger size or fewer seconds")
                rows.append((f"ErasePersonalData 1x1, {size:,} records", result.qps, result.p50, result.p99))
                first += result.highest_index + 1
        finally:
            server.stop()

    disk = vault_records.sqlite_full_inserts()
    grpcload.print_table(f"vault-service erasure, {args.seconds} s per row", rows)
    print("\nerasure checks (the database after each row):")
    for check in checks:
        print(f"  {check}")
    print(f"\nSQLite single-row insert, synchronous=FULL, one core: {disk:,.0f} tx/s")
    print(f"  p50 at {sizes[-1]:,} records / p50 at {sizes[0]:,} records: {rows[-1][2] / rows[0][2]:.2f}")


if __name__ == "__main__":
    main()
