#!/usr/bin/env python3
"""CheckConsent through the gateway against the same call straight to the consent service, in one
run with the same h2load settings (1x1 and 4x32). The servers are pinned to core 0 (the gateway
and the consent service share it when both serve) and the load to core 1. Every call through the
gateway is authenticated with an API key, authorized, forwarded and written to the hash-chained
audit log before it is answered: after each row through the gateway the script checks that the
log grew by at least the calls h2load counted (it makes uncounted warm-up calls besides) and that
its chain verifies, and prints no figure when it does not.

usage: Benchmarks/gateway_check.py [--seconds N] [--bin-dir DIR]
"""
import hashlib
import os
import sqlite3
import sys
import tempfile

import grpcload
from consent_check import TOKEN, seed

SECRET = "benchmark-secret"
AUDITOR_SECRET = "benchmark-auditor-secret"


def audit_entries(path):
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return db.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0]


def main():
    args = grpcload.load_arguments()
    grpcload.require_tools()
    grpcload.python_stubs("privacy/consent/v1/consent.proto", "privacy/rights/v1/rights.proto", "privacy/vault/v1/vault.proto",
                          "privacy/gateway/v1/gateway.proto")
    import grpc
    from privacy.consent.v1 import consent_pb2 as c, consent_pb2_grpc as cg
    from privacy.gateway.v1 import gateway_pb2 as g, gateway_pb2_grpc as gg

    bin_path = grpcload.build_release("consent-service", "gateway", bin_dir=args.bin_dir)
    request = c.CheckConsentRequest(subject_id="subject-4242", purpose_id="newsletter")
    payload = grpcload.frame(request)
    method = "privacy.consent.v1.ConsentService/CheckConsent"
    rows = {}
    checks = []

    def measure(name, address, headers, audit=None):
        """Loads one server; with `audit` (the gateway's database), checks the audit log after each row."""
        answer = cg.ConsentServiceStub(grpc.insecure_channel(address)).CheckConsent(request, metadata=list(headers.items()))
        if not answer.allowed:
            sys.exit(f"unexpected answer from {name}: {answer}")
        for clients, streams in ((1, 1), (4, 32)):
            before = audit_entries(audit) if audit else 0
            qps, p50, p99, failed, succeeded = grpcload.h2load(address, method, payload, headers, clients, streams, args.seconds)
            if failed > qps * args.seconds * 0.001:
                sys.exit(f"{name}: {failed} requests failed")
            if audit:
                added = audit_entries(audit) - before
                verification = gg.AdminServiceStub(grpc.insecure_channel(address)).VerifyAudit(
                    g.VerifyAuditRequest(), metadata=[("authorization", f"Bearer auditor.{AUDITOR_SECRET}")]).verification
                check = (f"{clients}x{streams}: {succeeded:,} calls counted, {added:,} audit entries added; chain "
                         f"{'valid' if verification.valid else 'BROKEN'} over {verification.entries_checked:,} entries")
                checks.append(check)
                if added < succeeded or not verification.valid or verification.entries_checked < before + added:
                    sys.exit(f"audit check failed, no figure printed: {check}")
            rows.setdefault((clients, streams), []).append((name, qps, p50, p99))

    with tempfile.TemporaryDirectory() as data:
        keys = os.path.join(data, "keys.yaml")
        with open(keys, "w") as out:
            digest = hashlib.sha256(SECRET.encode()).hexdigest()
            auditor = hashlib.sha256(AUDITOR_SECRET.encode()).hexdigest()
            out.write(f"keys:\n  - {{id: bench, role: service, actor: bench@example.com, sha256: {digest}}}\n"
                      f"  - {{id: auditor, role: auditor, actor: auditor@example.com, sha256: {auditor}}}\n")
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
            measure("through the gateway", gateway.address, {"authorization": f"Bearer bench.{SECRET}"},
                    audit=f"{data}/gateway.sqlite")
        finally:
            if gateway:
                gateway.stop()
            consent.stop()

    for (clients, streams), table in rows.items():
        grpcload.print_table(f"CheckConsent, {clients} connection(s) x {streams} stream(s), {args.seconds} s", table)
        (_, direct_qps, _, direct_p99), (_, gateway_qps, _, gateway_p99) = table
        print(f"  gateway / direct: {gateway_qps / direct_qps:.2f}x the QPS, {gateway_p99 / direct_p99:.2f}x the p99")
    print("\naudit checks (the gateway's log after each row through it):")
    for line in checks:
        print(f"  {line}")


if __name__ == "__main__":
    main()
