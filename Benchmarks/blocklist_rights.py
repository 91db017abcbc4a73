#!/usr/bin/env python3
"""Blocklist Check with 100 identifiers per call (10,000 entries, half of the checked ones
present) and subject-rights OpenRequest (a durable write), each beside a trivial Python grpcio
server with the same handler (`reference_server.py`), h2load at 1x1 and 4x32, server pinned to
core 0 and load to core 1, all in one run.

usage: Benchmarks/blocklist_rights.py [--seconds N]
"""
import argparse
import base64
import os
import sys
import tempfile

import grpcload

TOKEN = "benchmark-internal-token-0123456789"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    grpcload.require_tools()
    stubs = grpcload.python_stubs("privacy/blocklist/v1/blocklist.proto", "privacy/rights/v1/rights.proto")
    import grpc
    from privacy.blocklist.v1 import blocklist_pb2 as b, blocklist_pb2_grpc as bg
    from privacy.rights.v1 import rights_pb2 as r, rights_pb2_grpc as rg

    bin_path = grpcload.build_release("blocklist-service", "subject-rights-service")
    headers = {"x-internal-token": TOKEN, "x-privacy-actor": "benchmark", "x-privacy-role": "service"}
    metadata = list(headers.items())
    check = b.CheckRequest(identifiers=[b.Identifier(kind=b.IDENTIFIER_KIND_EMAIL, value=f"person-{i}@example.com")
                                        for i in range(0, 200, 2)] )
    check.identifiers[1].value = "nobody-1@example.com"  # a miss among the hits
    open_request = r.OpenRequestRequest(subject_id="subject-1", right=r.RIGHT_ACCESS, requester_email="ann@example.com",
                                        channel=8)
    cases = [
        ("Blocklist.Check x100", "blocklist-service", "privacy.blocklist.v1.BlocklistService/Check", check, "blocklist-check"),
        ("Rights.OpenRequest", "subject-rights-service", "privacy.rights.v1.SubjectRightsService/OpenRequest", open_request,
         "open-request"),
    ]
    for title, executable, method, request, reference_name in cases:
        rows = []
        with tempfile.TemporaryDirectory() as data:
            env = {"GRPC_PORT": "0", "INTERNAL_TOKEN": TOKEN, "LOG_LEVEL": "error",
                   "DATABASE_URL": f"sqlite://{data}/service.sqlite",
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
                else:
                    rg.SubjectRightsServiceStub(grpc.insecure_channel(server.address)).OpenRequest(open_request, metadata=metadata)
                for clients, streams in ((1, 1), (4, 32)):
                    qps, p50, p99, _ = grpcload.h2load(server.address, method, grpcload.frame(request), headers, clients, streams,
                                                       args.seconds)
                    rows.append((f"{executable} {clients}x{streams}", qps, p50, p99))
            finally:
                server.stop()
        reference = grpcload.Server([sys.executable, os.path.join(grpcload.ROOT, "Benchmarks", "reference_server.py"), stubs,
                                     reference_name])
        try:
            for clients, streams in ((1, 1), (4, 32)):
                qps, p50, p99, _ = grpcload.h2load(reference.address, method, grpcload.frame(request), {}, clients, streams,
                                                   args.seconds)
                rows.append((f"python reference {clients}x{streams}", qps, p50, p99))
        finally:
            reference.stop()
        grpcload.print_table(f"{title}, {args.seconds} s per row", rows)
        for load in ("1x1", "4x32"):
            ours = next(qps for name, qps, _, _ in rows if name.endswith(load) and not name.startswith("python"))
            theirs = next(qps for name, qps, _, _ in rows if name == f"python reference {load}")
            print(f"  {load}: {ours / theirs:.2f}x the reference's QPS")


if __name__ == "__main__":
    main()
