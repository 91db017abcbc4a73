#!/usr/bin/env python3
"""Blocklist Check with 100 identifiers per call (10,000 entries, half of the checked ones
present; h2load at 1x1 and 4x32) and subject-rights OpenRequest (a durable write; a request of
its own for a subject of its own on every call, `distinct_load.py` at 1x1 and 4x16, figures
printed only when the database holds every acknowledged request), each beside a trivial Python
grpcio server with the same handler (`reference_server.py`), server pinned to core 0 and load to
core 1, all in one run.

usage: Benchmarks/blocklist_rights.py [--seconds N] [--bin-dir DIR]
"""
import base64
import functools
import os
import sqlite3
import sys
import tempfile

import distinct_load
import grpcload

TOKEN = "benchmark-internal-token-0123456789"
OPEN_REQUEST = "/privacy.rights.v1.SubjectRightsService/OpenRequest"
LOADS = ((1, 1), (4, 16))  # distinct_load's connections x calls in flight on each


def open_request(i):
    """OpenRequest number i: an access request for a subject of its own (distinct_load builds the requests with it)."""
    from privacy.rights.v1 import rights_pb2 as r
    return r.OpenRequestRequest(subject_id=f"bench-{i}", right=r.RIGHT_ACCESS, requester_email=f"person.{i}@example.com",
                                channel=8).SerializeToString()


def stored_requests(path):
    """(requests, distinct subjects) in the rights service's file."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return db.execute("SELECT COUNT(*), COUNT(DISTINCT subject_id) FROM requests").fetchone()


def open_request_rows(address, metadata, seconds, name, database=None):
    """OpenRequest under each load with distinct requests; with `database`, each row only once
    every acknowledged request is found there (a figure whose check fails is not printed)."""
    rows, checks = [], []
    offset = 0
    for connections, streams in LOADS:
        before = stored_requests(database) if database else None
        result = distinct_load.run(address, OPEN_REQUEST, functools.partial(_offset_open, offset), metadata, seconds,
                                   connections=connections, streams=streams)
        offset += result.highest_index + 1
        if database:
            after = stored_requests(database)
            added, subjects = after[0] - before[0], after[1] - before[1]
            check = (f"OpenRequest {connections}x{streams}: {result.acknowledged:,} acknowledged, {added:,} requests stored "
                     f"for {subjects:,} new subjects; statuses: {result.describe_statuses()}")
            checks.append(check)
            if result.statuses.keys() != {"OK"} or added != result.acknowledged or subjects != result.acknowledged:
                sys.exit(f"write check failed, no figure printed: {check}")
        rows.append((f"{name} {connections}x{streams}", result.qps, result.p50, result.p99))
    return rows, checks


def _offset_open(offset, i):
    return open_request(offset + i)


def main():
    args = grpcload.load_arguments()
    grpcload.require_tools()
    stubs = grpcload.python_stubs("privacy/blocklist/v1/blocklist.proto", "privacy/rights/v1/rights.proto")
    import grpc
    from privacy.blocklist.v1 import blocklist_pb2 as b, blocklist_pb2_grpc as bg

    bin_path = grpcload.build_release("blocklist-service", "subject-rights-service", bin_dir=args.bin_dir)
    headers = {"x-internal-token": TOKEN, "x-privacy-actor": "benchmark", "x-privacy-role": "service"}
    metadata = list(headers.items())
    check = b.CheckRequest(identifiers=[b.Identifier(kind=b.IDENTIFIER_KIND_EMAIL, value=f"person-{i}@example.com")
                                        for i in range(0, 200, 2)])
    check.identifiers[1].value = "nobody-1@example.com"  # a miss among the hits
    checks = []
    for title, executable, reference_name in (("Blocklist.Check x100", "blocklist-service", "blocklist-check"),
                                              ("Rights.OpenRequest (distinct)", "subject-rights-service", "open-request")):
        rows = []
        with tempfile.TemporaryDirectory() as data:
            database = f"{data}/service.sqlite"
            env = {"GRPC_PORT": "0", "INTERNAL_TOKEN": TOKEN, "LOG_LEVEL": "error", "DATABASE_URL": f"sqlite://{database}",
                   "BLOCKLIST_PEPPER": base64.b64encode(bytes(32)).decode()}
            server = grpcload.Server([os.path.join(bin_path, executable)], env)
            try:
                if executable == "blocklist-service":
                    stub = bg.BlocklistServiceStub(grpc.insecure_channel(server.address))
                    for start in range(0, 10_000, 1000):
                        stub.Add(b.AddRequest(identifiers=[b.Identifier(kind=b.IDENTIFIER_KIND_EMAIL, value=f"person-{i}@example.com")
                                                           for i in range(start, start + 1000, 2)], reason="benchmark"),
                                 metadata=metadata)
                    answer = stub.Check(check, metadata=metadata)
                    if sum(m.matched for m in answer.matches) != 99:
                        sys.exit(f"unexpected blocklist answer: {sum(m.matched for m in answer.matches)} matches")
                    rows += check_rows(server.address, check, headers, args.seconds, executable)
                else:
                    opened, opened_checks = open_request_rows(server.address, metadata, args.seconds, executable, database)
                    rows += opened
                    checks += opened_checks
            finally:
                server.stop()
        reference = grpcload.Server([sys.executable, os.path.join(grpcload.ROOT, "Benchmarks", "reference_server.py"), stubs,
                                     reference_name])
        try:
            if executable == "blocklist-service":
                rows += check_rows(reference.address, check, {}, args.seconds, "python reference")
            else:
                rows += open_request_rows(reference.address, [], args.seconds, "python reference")[0]
        finally:
            reference.stop()
        grpcload.print_table(f"{title}, {args.seconds} s per row", rows)
        for name, *_ in rows:
            if name.startswith("python reference"):
                continue
            load = name.split()[-1]
            ours = next(qps for row_name, qps, _, _ in rows if row_name == name)
            theirs = next(qps for row_name, qps, _, _ in rows if row_name == f"python reference {load}")
            print(f"  {load}: {ours / theirs:.2f}x the reference's QPS")
    print("\nwrite checks (the rights database after each OpenRequest row):")
    for line in checks:
        print(f"  {line}")


def check_rows(address, check, headers, seconds, name):
    """Blocklist Check at 1x1 and 4x32 with h2load (one body re-sent: a read)."""
    rows = []
    for clients, streams in ((1, 1), (4, 32)):
        qps, p50, p99, *_ = grpcload.h2load(address, "privacy.blocklist.v1.BlocklistService/Check", grpcload.frame(check), headers,
                                           clients, streams, seconds)
        rows.append((f"{name} {clients}x{streams}", qps, p50, p99))
    return rows

if __name__ == "__main__":
    main()
