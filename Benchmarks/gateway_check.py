#!/usr/bin/env python3
"""CheckConsent through the gateway against the same call straight to the consent service, in one
run with the same h2load settings (1x1 and 4x32). The servers are pinned to core 0 (the gateway
and the consent service share it when both serve) and the load to core 1. Every call through the
gateway is authenticated with an API key, authorized, forwarded and written to the hash-chained
audit log before it is answered.

usage: Benchmarks/gateway_check.py [--seconds N]
"""
import argparse
import hashlib
import os
import sys
import tempfile

import grpcload
from consent_check import TOKEN, seed

SECRET = "benchmark-secret"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    grpcload.require_tools()
    grpcload.python_stubs("privacy/consent/v1/consent.proto")
    import grpc
    from privacy.consent.v1 import consent_pb2 as c, consent_pb2_grpc as cg

    bin_path = grpcload.build_release("consent-service", "gateway")
    request = c.CheckConsentRequest(subject_id="subject-4242", purpose_id="newsletter")
    payload = grpcload.frame(request)
    method = "privacy.consent.v1.ConsentService/CheckConsent"
    rows = {}

    def measure(name, address, headers):
        answer = cg.ConsentServiceStub(grpc.insecure_channel(address)).CheckConsent(request, metadata=list(headers.items()))
        if not answer.allowed:
            sys.exit(f"unexpected answer from {name}: {answer}")
        for clients, streams in ((1, 1), (4, 32)):
            qps, p50, p99, failed = grpcload.h2load(address, method, payload, headers, clients, streams, args.seconds)
            if failed > qps * args.seconds * 0.001:
                sys.exit(f"{name}: {failed} requests failed")
            rows.setdefault((clients, streams), []).append((name, qps, p50, p99))

    with tempfile.TemporaryDirectory() as data:
        keys = os.path.join(data, "keys.yaml")
        with open(keys, "w") as out:
            digest = hashlib.sha256(SECRET.encode()).hexdigest()
            out.write(f"keys:\n  - {{id: bench, role: service, actor: bench@example.com, sha256: {digest}}}\n")
        common = {"GRPC_PORT": "0", "INTERNAL_TOKEN": TOKEN, "LOG_LEVEL": "error"}
        consent = grpcload.Server([os.path.join(bin_path, "consent-service")],
                                  {**common, "DATABASE_URL": f"sqlite://{data}/consent.sqlite"})
        gateway = None
        try:
            seed(consent.address, c, cg, grpc)
            measure("direct to consent-service", consent.address, {"x-internal-token": TOKEN})
            gateway = grpcload.Server([os.path.join(bin_path, "gateway")], {
                **common, "DATABASE_URL": f"sqlite://{data}/gateway.sqlite", "GATEWAY_API_KEYS_FILE": keys,
                "CONSENT_SERVICE_ADDR": consent.address})
            measure("through the gateway", gateway.address, {"authorization": f"Bearer bench.{SECRET}"})
        finally:
            if gateway:
                gateway.stop()
            consent.stop()

    for (clients, streams), table in rows.items():
        grpcload.print_table(f"CheckConsent, {clients} connection(s) x {streams} stream(s), {args.seconds} s", table)
        (_, direct_qps, _, direct_p99), (_, gateway_qps, _, gateway_p99) = table
        print(f"  gateway / direct: {gateway_qps / direct_qps:.2f}x the QPS, {gateway_p99 / direct_p99:.2f}x the p99")


if __name__ == "__main__":
    main()
