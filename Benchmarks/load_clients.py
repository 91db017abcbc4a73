#!/usr/bin/env python3
"""Which load client loads a server harder from one core: `privacy-load` (Swift, grpc-swift-2)
or the Python multi-process grpcio client, both in `distinct_load.py`, each sending the same
pre-built CheckConsent requests (a subject of its own per call) to one release consent-service.
The consent service answers from memory, so the client's core is what runs out first; h2load
re-sending one body is the ceiling of a C client on the same core. Server pinned to core 0, load
to core 1, all in one run.

usage: Benchmarks/load_clients.py [--seconds N] [--bin-dir DIR]
"""
import functools
import os
import sys
import tempfile

import consent_check
import distinct_load
import grpcload

METHOD = "/privacy.consent.v1.ConsentService/CheckConsent"
LOADS = ((1, 1), (4, 16), (4, 64))  # connections (Python: processes) x calls in flight on each


def check_request(i):
    from privacy.consent.v1 import consent_pb2 as c

    return c.CheckConsentRequest(subject_id=f"subject-{i % consent_check.SUBJECTS}", purpose_id="newsletter").SerializeToString()


def main():
    args = grpcload.load_arguments()
    grpcload.require_tools()
    grpcload.python_stubs("privacy/consent/v1/consent.proto")
    import grpc
    from privacy.consent.v1 import consent_pb2 as c, consent_pb2_grpc as cg

    bin_path = grpcload.build_release("consent-service", "privacy-load", bin_dir=args.bin_dir)
    headers = {"x-internal-token": consent_check.TOKEN}
    rows = {}
    with tempfile.TemporaryDirectory() as data:
        env = {"GRPC_PORT": "0", "INTERNAL_TOKEN": consent_check.TOKEN, "LOG_LEVEL": "error",
               "DATABASE_URL": f"sqlite://{data}/consent.sqlite"}
        server = grpcload.Server([os.path.join(bin_path, "consent-service")], env)
        try:
            consent_check.seed(server.address, c, cg, grpc)
            request = c.CheckConsentRequest(subject_id="subject-4242", purpose_id="newsletter")
            consent_check.check_answer(server.address, c, cg, grpc, request, list(headers.items()))
            for connections, streams in LOADS:
                table = rows.setdefault((connections, streams), [])
                for client in ("swift", "python"):
                    result = distinct_load.run(server.address, METHOD, check_request, list(headers.items()), args.seconds,
                                               connections=connections, streams=streams, client=client, bin_path=bin_path)
                    if result.statuses.keys() != {"OK"} or result.ran_out:
                        sys.exit(f"{client} at {connections}x{streams}: {result.describe_statuses()}")
                    table.append((f"{client} ({'privacy-load' if client == 'swift' else 'grpcio, processes'})", result.qps,
                                  result.p50, result.p99))
                qps, p50, p99, failed, _ = grpcload.h2load(server.address, METHOD.lstrip("/"), grpcload.frame(request), headers,
                                                           connections, streams, args.seconds)
                if failed:
                    sys.exit(f"h2load at {connections}x{streams}: {failed} requests failed")
                table.append(("h2load, one body (C ceiling)", qps, p50, p99))
        finally:
            server.stop()

    for (connections, streams), table in rows.items():
        grpcload.print_table(f"CheckConsent from one core, {connections} connection(s) x {streams} stream(s), {args.seconds} s",
                             table)
        print(f"  privacy-load: {table[0][1] / table[1][1]:.2f}x the Python client's QPS, "
              f"{table[0][1] / table[2][1]:.2f}x h2load's")


if __name__ == "__main__":
    main()
