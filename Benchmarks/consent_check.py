#!/usr/bin/env python3
"""CheckConsent throughput and latency: the release consent-service (with flush coalescing on
and off) beside the trivial Python grpcio reference, h2load at 1x1 and 4x32, server pinned to
core 0 and load to core 1, all in one run. For context it also loads grpc.health.v1 Check on the
same consent-service: a handler that does nothing, i.e. the gRPC transport's own ceiling here;
and nghttpd serving a 23-byte file, the HTTP/2 limit of this machine. Last, CheckConsentBatch with
1,000 pairs a call on the default server: decisions per second, each call's answers checked first.

usage: Benchmarks/consent_check.py [--seconds N] [--bin-dir DIR]
"""
import os
import sys
import tempfile

import grpcload

TOKEN = "benchmark-internal-token-0123456789"
SUBJECTS = 10_000


def seed(address, c, cg, grpc, channel=None):
    stub = cg.ConsentServiceStub(channel or grpc.insecure_channel(address))
    metadata = [("x-internal-token", TOKEN)]
    stub.UpsertPurpose(c.UpsertPurposeRequest(purpose=c.Purpose(
        purpose_id="newsletter", title="Newsletter", legal_basis=c.LEGAL_BASIS_CONSENT,
        category=c.PURPOSE_CATEGORY_EMAIL_MARKETING, notice_version="v1", notice_text="We send news.")), metadata=metadata)
    ids = [f"subject-{i}" for i in range(0, SUBJECTS, 2)]
    for start in range(0, len(ids), 5000):
        stub.BulkUpdate(c.BulkUpdateRequest(
            subject_ids=c.SubjectIdList(subject_ids=ids[start:start + 5000]), purpose_id="newsletter",
            decision=c.DECISION_GRANTED, evidence=c.Evidence(channel=1), reason="benchmark seed"), metadata=metadata)


def check_answer(address, c, cg, grpc, request, metadata):
    answer = cg.ConsentServiceStub(grpc.insecure_channel(address)).CheckConsent(request, metadata=metadata)
    if not answer.allowed:
        sys.exit(f"unexpected answer from {address}: {answer}")


BATCH_PAIRS = 1000


def batch_request(c):
    """1,000 distinct subjects, half of them granted by `seed`."""
    return c.CheckConsentBatchRequest(checks=[
        c.CheckConsentRequest(subject_id=f"subject-{i}", purpose_id="newsletter") for i in range(BATCH_PAIRS)])


def check_batch_answer(address, c, cg, grpc, request, metadata):
    answers = cg.ConsentServiceStub(grpc.insecure_channel(address)).CheckConsentBatch(request, metadata=metadata).answers
    allowed = [answer.allowed for answer in answers]
    if allowed != [i % 2 == 0 for i in range(BATCH_PAIRS)]:
        sys.exit(f"unexpected batch answer from {address}: {sum(allowed)} of {len(allowed)} allowed")


def main():
    args = grpcload.load_arguments()
    grpcload.require_tools()
    stubs = grpcload.python_stubs("privacy/consent/v1/consent.proto")
    import grpc
    from privacy.consent.v1 import consent_pb2 as c, consent_pb2_grpc as cg

    bin_path = grpcload.build_release("consent-service", bin_dir=args.bin_dir)
    request = c.CheckConsentRequest(subject_id="subject-4242", purpose_id="newsletter")
    payload = grpcload.frame(request)
    method = "privacy.consent.v1.ConsentService/CheckConsent"
    headers = {"x-internal-token": TOKEN}
    rows = {}
    batch_rows = []

    def measure(name, server, method=method, payload=payload):
        for clients, streams in ((1, 1), (4, 32)):
            qps, p50, p99, failed, _ = grpcload.h2load(server.address, method, payload, headers, clients, streams, args.seconds)
            if failed > qps * args.seconds * 0.001:
                sys.exit(f"{name}: {failed} requests failed")
            rows.setdefault((clients, streams), []).append((name, qps, p50, p99))

    with tempfile.TemporaryDirectory() as data:
        for coalescing in ("1", "0"):
            env = {"GRPC_PORT": "0", "INTERNAL_TOKEN": TOKEN, "LOG_LEVEL": "error", "GRPC_FLUSH_COALESCING": coalescing,
                   "DATABASE_URL": f"sqlite://{data}/consent-{coalescing}.sqlite"}
            server = grpcload.Server([os.path.join(bin_path, "consent-service")], env)
            try:
                seed(server.address, c, cg, grpc)
                check_answer(server.address, c, cg, grpc, request, list(headers.items()))
                label = "on" if coalescing == "1" else "off"
                idle = grpcload.rss_mib(server.process.pid)
                measure(f"consent-service (coalescing {label})", server)
                if coalescing == "0":
                    memory = (idle, grpcload.rss_mib(server.process.pid, "VmHWM"))
                if coalescing == "1":
                    measure("  same server, empty health Check", server, "grpc.health.v1.Health/Check", b"\x00\x00\x00\x00\x00")
                else:
                    batch = batch_request(c)
                    check_batch_answer(server.address, c, cg, grpc, batch, list(headers.items()))
                    for clients, streams in ((1, 1), (4, 32)):
                        qps, p50, p99, failed, _ = grpcload.h2load(
                            server.address, "privacy.consent.v1.ConsentService/CheckConsentBatch", grpcload.frame(batch), headers,
                            clients, streams, args.seconds)
                        if failed > qps * args.seconds * 0.001:
                            sys.exit(f"CheckConsentBatch: {failed} requests failed")
                        batch_rows.append((f"{clients}x{streams}", qps, p50, p99))
            finally:
                server.stop()

    nghttpd = grpcload.Nghttpd()
    try:
        measure("nghttpd, 23-byte file (HTTP/2 limit)", nghttpd, nghttpd.path)
    finally:
        nghttpd.stop()

    reference = grpcload.Server([sys.executable, os.path.join(grpcload.ROOT, "Benchmarks", "reference_server.py"), stubs, "consent-check"])
    try:
        check_answer(reference.address, c, cg, grpc, request, [])
        measure("python grpcio reference", reference)
    finally:
        reference.stop()

    for (clients, streams), table in rows.items():
        grpcload.print_table(f"CheckConsent, {clients} connection(s) x {streams} stream(s), {args.seconds} s", table)
        reference_qps = table[-1][1]
        for name, qps, _, _ in table[:-1]:
            print(f"  {name.strip()}: {qps / reference_qps:.2f}x the reference's QPS")

    print(f"\nresident memory of consent-service (coalescing off, {SUBJECTS:,} subjects): {memory[0]:.1f} MiB idle, "
          f"{memory[1]:.1f} MiB at its peak under CheckConsent 1x1 and 4x32 (aims: at most 40 MB and 150 MB)")
    grpcload.print_table(f"CheckConsentBatch, {BATCH_PAIRS:,} pairs a call, consent-service (coalescing off), {args.seconds} s", batch_rows)
    for load, qps, _, _ in batch_rows:
        print(f"  {load}: {qps * BATCH_PAIRS:,.0f} decisions/s (aim: at least 1,000,000 on the server core)")


if __name__ == "__main__":
    main()
