#!/usr/bin/env python3
"""The suite at growing numbers of subjects.

For each size N, `privacy-suite seed --subjects N` fills a fresh data directory (consent ledger:
four purposes, about four events a subject; vault: 7-9 values a subject, three of them
quasi-identifiers). The real services then start on it, pinned to the server core, and the script
measures: start-up time (process start to listening, which includes reading the consent
service's kept subject states and opening the vault) and resident memory after start and after
the load; CheckConsent at 1x1 and 4 connections x 16 in flight, GetRecord, FindByField (email)
and ErasePersonalData at 1x1, each call on another subject spread over all N (distinct_load.py).
Reads are checked against the seeder's rules on a sample before they are loaded; the erasure row
is printed only when the database holds every acknowledged erasure.

Beside the rows, from the same sitting: a raw SQLite point-read loop (primary key, random ids) on
the seeded vault file, and the raw synchronous=FULL insert rate. Load on core 1, servers on core 0.

The gateway's workflows on the same directory come last (sagas.py): the erasure and access sagas
end to end and a retention sweep over the 1 % of subjects the seed made due. Before them, how long
the gateway's copy of the consent ledger takes to replay it (until GetBackendHealth says it
answers) and the gateway's resident memory then.

With --seeded DIR the one size of --sizes is measured on DIR, filled beforehand by
`privacy-suite seed --subjects N --data-dir DIR` (for sizes whose seeding takes hours; the run
erases subjects in it, so seed it again for another run).

usage: Benchmarks/scale.py [--sizes 10000,1000000] [--seconds N] [--bin-dir DIR] [--seeded DIR]
"""
import argparse
import functools
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time

import distinct_load
import grpcload
import sagas
import vault_records

TOKEN = "benchmark-internal-token-0123456789"
PURPOSES = ["newsletter", "analytics", "partners", "crm"]
SPREAD = 2654435761  # request i goes to subject (i * SPREAD) % N: every subject, in a scattered order


def subject(size, i):
    return f"seed-{(i * SPREAD) % size}"


def check_consent(size, i):
    from privacy.consent.v1 import consent_pb2 as c

    return c.CheckConsentRequest(subject_id=subject(size, i), purpose_id=PURPOSES[i % 4]).SerializeToString()


def get_record(size, i):
    from privacy.vault.v1 import vault_pb2 as v

    return v.GetRecordRequest(subject_id=subject(size, i)).SerializeToString()


def find_by_email(size, i):
    from privacy.vault.v1 import vault_pb2 as v

    index = (i * SPREAD) % size
    return v.FindByFieldRequest(field="email", value=f"person.{index}@example.com").SerializeToString()


def plain_subject(k):
    """The k-th subject with neither a seeded request (index % 100 == 0) nor a due retention
    (index % 100 == 50): the direct erasures leave those to the sagas."""
    return 100 * (k // 98) + 1 + k % 98 + (1 if k % 98 >= 49 else 0)


def erase(first, i):
    """The i-th erasure, of plain subject first + i: `first` is how many the directory already has
    erased (0 when freshly seeded; a --seeded directory whose earlier run stopped after this row
    has its first plain subjects erased, in order)."""
    from privacy.vault.v1 import vault_pb2 as v

    return v.ErasePersonalDataRequest(subject_id=f"seed-{plain_subject(first + i)}", reason="benchmark").SerializeToString()


def start(bin_path, name, env):
    began = time.monotonic()
    server = grpcload.Server([os.path.join(bin_path, name)], env)
    return server, time.monotonic() - began


def seed(bin_path, size, data):
    began = time.monotonic()
    subprocess.run([os.path.join(bin_path, "privacy-suite"), "seed", "--subjects", str(size), "--data-dir", data], check=True,
                   stdout=subprocess.DEVNULL)
    return time.monotonic() - began


def sample_checks(consent_address, vault_address, headers, size):
    """A sample of subjects answers what the seeder wrote, before anything is loaded."""
    import grpc
    from privacy.consent.v1 import consent_pb2 as c, consent_pb2_grpc as cg
    from privacy.vault.v1 import vault_pb2 as v, vault_pb2_grpc as vg

    metadata = list(headers.items())
    consent = cg.ConsentServiceStub(grpc.insecure_channel(consent_address))
    vault = vg.VaultServiceStub(grpc.insecure_channel(vault_address))
    for index in random.Random(size).sample(range(size), min(size, 50)):
        answer = consent.CheckConsent(c.CheckConsentRequest(subject_id=f"seed-{index}", purpose_id="analytics"), metadata=metadata)
        expected = c.DECISION_GRANTED if index % 2 == 0 else c.DECISION_DENIED
        record = vault.GetRecord(v.GetRecordRequest(subject_id=f"seed-{index}"), metadata=metadata).record
        zip_value = next((field.value for field in record.fields if field.name == "zip"), None)
        if answer.decision != expected or zip_value != str(10000 + index % 900):
            sys.exit(f"seed-{index} does not answer what was seeded: {answer.decision}, zip {zip_value}")


def erased_count(path):
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return db.execute("SELECT COUNT(*) FROM records WHERE erasure IS NOT NULL").fetchone()[0]


def sqlite_point_reads(path, size, seconds=3):
    """Primary-key reads of random records per second on the seeded vault file, one core."""
    code = f"""
import random, sqlite3, sys, time
db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
n = 0; start = time.time(); r = random.Random(1)
while time.time() - start < {seconds}:
    db.execute("SELECT * FROM records WHERE subject_id = ?", ("seed-%d" % r.randrange({size}),)).fetchone(); n += 1
print(n / (time.time() - start))
"""
    out = subprocess.run(["taskset", "-c", grpcload.SERVER_CPU, sys.executable, "-c", code, path], capture_output=True, text=True,
                         check=True).stdout
    return float(out)


def measure(bin_path, size, seconds, headers, seeded=None):
    rows, notes = [], []
    with tempfile.TemporaryDirectory() as fresh:
        data = seeded or fresh
        seeded_in = None if seeded else seed(bin_path, size, data)
        common = {"GRPC_PORT": "0", "INTERNAL_TOKEN": TOKEN, "LOG_LEVEL": "error"}
        consent, consent_start = start(bin_path, "consent-service",
                                       {**common, "DATABASE_URL": f"sqlite://{data}/consent-service.sqlite"})
        vault, vault_start = start(bin_path, "vault-service", {**common, "DATABASE_URL": f"sqlite://{data}/vault-service.sqlite",
                                                               "VAULT_MASTER_KEY_FILE": f"{data}/dev-vault-master-key"})
        try:
            rss_start = (grpcload.rss_mib(consent.process.pid), grpcload.rss_mib(vault.process.pid))
            sample_checks(consent.address, vault.address, headers, size)
            metadata = list(headers.items())
            loads = [
                ("CheckConsent 1x1", consent.address, "/privacy.consent.v1.ConsentService/CheckConsent", check_consent, 1, 1),
                ("CheckConsent 4x16", consent.address, "/privacy.consent.v1.ConsentService/CheckConsent", check_consent, 4, 16),
                ("GetRecord 1x1", vault.address, "/privacy.vault.v1.VaultService/GetRecord", get_record, 1, 1),
                ("FindByField email 1x1", vault.address, "/privacy.vault.v1.VaultService/FindByField", find_by_email, 1, 1),
            ]
            for name, address, method, make, connections, streams in loads:
                result = distinct_load.run(address, method, functools.partial(make, size), metadata, seconds,
                                           connections=connections, streams=streams)
                if result.statuses.keys() != {"OK"}:
                    sys.exit(f"{name} at {size:,}: statuses {result.describe_statuses()}")
                rows.append((f"{name}", result.qps, result.p50, result.p99))
            before = erased_count(f"{data}/vault-service.sqlite")
            plain = size // 100 * 98 - before
            result = distinct_load.run(vault.address, "/privacy.vault.v1.VaultService/ErasePersonalData",
                                       functools.partial(erase, before), metadata, seconds, connections=1, streams=1, limit=plain)
            erased = erased_count(f"{data}/vault-service.sqlite") - before
            check = (f"ErasePersonalData at {size:,}: {result.acknowledged:,} acknowledged, {erased:,} records marked erased; "
                     f"statuses: {result.describe_statuses()}")
            if result.statuses.keys() != {"OK"} or erased != result.acknowledged or result.highest_index + 1 >= plain:
                sys.exit(f"erasure check failed, no figure printed: {check}")
            rows.append(("ErasePersonalData 1x1", result.qps, result.p50, result.p99))
            notes.append(check)
            rss_end = (grpcload.rss_mib(consent.process.pid), grpcload.rss_mib(vault.process.pid))
            workflow_servers, gateway_metadata = sagas.start(bin_path, data, common, consent.address, vault.address)
            try:
                waited, copy = sagas.copy_caught_up(workflow_servers[-1].address, gateway_metadata)
                notes.append(f"the gateway's copy of the consent ledger answering {waited:.1f} s after the gateway listened "
                             f"({copy.subjects:,} subjects, {copy.sequence:,} events); gateway resident memory then "
                             f"{grpcload.rss_mib(workflow_servers[-1].process.pid):,.0f} MiB")
                saga_rows, saga_notes = sagas.measure(workflow_servers[-1].address, data, size, seconds, gateway_metadata)
            finally:
                for server in reversed(workflow_servers):
                    server.stop()
            rows += saga_rows
            notes += saga_notes
        finally:
            consent.stop()
            vault.stop()
        point_reads = sqlite_point_reads(f"{data}/vault-service.sqlite", size)
        disk_mib = sum(os.path.getsize(os.path.join(data, name)) for name in os.listdir(data)) / 2**20
    seeding = "seeded beforehand" if seeded_in is None else f"seeded in {seeded_in:.1f} s"
    notes.append(f"{seeding} ({disk_mib:,.0f} MiB on disk); start-up to listening: consent {consent_start:.2f} s, "
                 f"vault {vault_start:.2f} s")
    notes.append(f"resident memory after start / after the load: consent {rss_start[0]:,.0f} / {rss_end[0]:,.0f} MiB, "
                 f"vault {rss_start[1]:,.0f} / {rss_end[1]:,.0f} MiB")
    notes.append(f"raw SQLite primary-key reads of random records on the vault file: {point_reads:,.0f} /s")
    return rows, notes


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,1000000")
    parser.add_argument("--seeded", help="a directory seeded beforehand with the one size of --sizes")
    args = grpcload.load_arguments(parser)
    sizes = sorted(int(size) for size in args.sizes.split(","))
    if args.seeded and len(sizes) != 1:
        sys.exit("--seeded takes the one size it was seeded with in --sizes")
    grpcload.require_tools()
    grpcload.python_stubs("privacy/consent/v1/consent.proto", "privacy/vault/v1/vault.proto", "privacy/rights/v1/rights.proto",
                          "privacy/gateway/v1/gateway.proto")
    bin_path = grpcload.build_release("privacy-suite", "consent-service", "vault-service", "subject-rights-service",
                                      "blocklist-service", "gateway", bin_dir=args.bin_dir)
    headers = {"x-internal-token": TOKEN, "x-privacy-actor": "benchmark", "x-privacy-role": "service"}
    results = {}
    for size in sizes:
        results[size] = measure(bin_path, size, args.seconds, headers, args.seeded)
        rows, notes = results[size]
        grpcload.print_table(f"{size:,} subjects, {args.seconds} s per row", rows)
        for note in notes:
            print(f"  {note}")
    disk = vault_records.sqlite_full_inserts()
    print(f"\nSQLite single-row insert, synchronous=FULL, one core: {disk:,.0f} tx/s")
    if len(sizes) == 1:
        return
    smallest, largest = results[sizes[0]][0], results[sizes[-1]][0]
    print(f"\n{sizes[-1]:,} against {sizes[0]:,} subjects (p50 ratio, p99 ratio):")
    for small, large in zip(smallest, largest):
        print(f"  {small[0]:34} {large[2] / small[2]:5.2f}  {large[3] / small[3]:5.2f}")


if __name__ == "__main__":
    main()
