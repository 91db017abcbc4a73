#!/usr/bin/env python3
"""Whether the gateway's gRPC client to the backends is what limits a forwarded call: vault
GetRecord straight to the vault and through the gateway (which forwards it with grpc-swift-2's
client over grpc-swift-nio-transport), at 1x1 and 4x32, servers on core 0 and h2load on core 1.
For each row it prints the CPU time each server process spent per call (from /proc/PID/stat),
and for comparison the gateway's CPU per CheckConsent it answers itself (no backend call, the
same authentication, policy and audit entry). The difference between the two gateway figures
bounds what forwarding costs the gateway, client and the task-per-call server path together.

usage: Benchmarks/gateway_client.py [--seconds N] [--bin-dir DIR]
"""
import base64
import hashlib
import os
import sys
import tempfile

import consent_check
import grpcload
import vault_records

SECRET = "benchmark-secret"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """User and system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def main():
    args = grpcload.load_arguments()
    grpcload.require_tools()
    grpcload.python_stubs("privacy/consent/v1/consent.proto", "privacy/vault/v1/vault.proto")
    import grpc
    from privacy.consent.v1 import consent_pb2 as c, consent_pb2_grpc as cg
    from privacy.vault.v1 import vault_pb2 as v, vault_pb2_grpc as vg

    bin_path = grpcload.build_release("consent-service", "vault-service", "gateway", bin_dir=args.bin_dir)
    token = {"x-internal-token": consent_check.TOKEN}
    rows = []

    def measure(name, address, method, payload, headers, servers, clients, streams):
        """One h2load row; the CPU microseconds each of `servers` ({label: pid}) spent per call."""
        before = {label: cpu_seconds(pid) for label, pid in servers.items()}
        qps, p50, p99, failed, succeeded = grpcload.h2load(address, method, payload, headers, clients, streams, args.seconds)
        if failed > qps * args.seconds * 0.001:
            sys.exit(f"{name}: {failed} requests failed")
        # h2load's warm-up calls count in the CPU time but not in `succeeded`: per call over all
        # calls made, estimated at the measured rate over the warm-up too.
        calls = succeeded + qps * 2
        cpu = {label: (cpu_seconds(pid) - before[label]) / calls * 1e6 for label, pid in servers.items()}
        rows.append((f"{name}, {clients}x{streams}", qps, p50, p99, cpu))

    with tempfile.TemporaryDirectory() as data:
        keys = os.path.join(data, "keys.yaml")
        with open(keys, "w") as out:
            digest = hashlib.sha256(SECRET.encode()).hexdigest()
            out.write(f"keys:\n  - {{id: bench, role: dpo, actor: bench@example.com, sha256: {digest}}}\n")
        common = {"GRPC_PORT": "0", "INTERNAL_TOKEN": consent_check.TOKEN, "LOG_LEVEL": "error"}
        vault = grpcload.Server([os.path.join(bin_path, "vault-service")], {
            **common, "DATABASE_URL": f"sqlite://{data}/vault.sqlite", "VAULT_MASTER_KEY": base64.b64encode(os.urandom(32)).decode()})
        consent = grpcload.Server([os.path.join(bin_path, "consent-service")],
                                  {**common, "DATABASE_URL": f"sqlite://{data}/consent.sqlite"})
        gateway = None
        try:
            backend_headers = {**token, "x-privacy-actor": "benchmark", "x-privacy-role": "service"}
            vault_records.seed(vault.address, v, vg, grpc, list(backend_headers.items()))
            consent_check.seed(consent.address, c, cg, grpc)
            gateway = grpcload.Server([os.path.join(bin_path, "gateway")], {
                **common, "DATABASE_URL": f"sqlite://{data}/gateway.sqlite", "GATEWAY_API_KEYS_FILE": keys,
                "VAULT_SERVICE_ADDR": vault.address, "CONSENT_SERVICE_ADDR": consent.address})
            headers = {"authorization": f"Bearer bench.{SECRET}"}
            record = v.GetRecordRequest(subject_id="subject-1")
            for address, metadata in ((vault.address, backend_headers), (gateway.address, headers)):
                answer = vg.VaultServiceStub(grpc.insecure_channel(address)).GetRecord(record, metadata=list(metadata.items()))
                if len(answer.record.fields) < 5:
                    sys.exit(f"unexpected GetRecord answer from {address}: {answer}")
            check = c.CheckConsentRequest(subject_id="subject-4242", purpose_id="newsletter")
            if not cg.ConsentServiceStub(grpc.insecure_channel(gateway.address)).CheckConsent(check, metadata=list(headers.items())).allowed:
                sys.exit("unexpected CheckConsent answer from the gateway")
            both = {"vault": vault.process.pid, "gateway": gateway.process.pid}
            for clients, streams in ((1, 1), (4, 32)):
                measure("GetRecord direct to the vault", vault.address, "privacy.vault.v1.VaultService/GetRecord",
                        grpcload.frame(record), backend_headers, both, clients, streams)
                measure("GetRecord through the gateway", gateway.address, "privacy.vault.v1.VaultService/GetRecord",
                        grpcload.frame(record), headers, both, clients, streams)
                measure("CheckConsent answered by the gateway", gateway.address, "privacy.consent.v1.ConsentService/CheckConsent",
                        grpcload.frame(check), headers, both, clients, streams)
        finally:
            if gateway:
                gateway.stop()
            consent.stop()
            vault.stop()

    print(f"\n{'row':48} {'QPS':>9} {'p50 ms':>8} {'p99 ms':>8} {'vault us/call':>14} {'gateway us/call':>16}")
    for name, qps, p50, p99, cpu in rows:
        print(f"{name:48} {qps:9.0f} {p50:8.3f} {p99:8.3f} {cpu['vault']:14.1f} {cpu['gateway']:16.1f}")
    by_name = {name: cpu for name, _, _, _, cpu in rows}
    forwarded = by_name["GetRecord through the gateway, 4x32"]["gateway"]
    answered = by_name["CheckConsent answered by the gateway, 4x32"]["gateway"]
    vault_own = by_name["GetRecord through the gateway, 4x32"]["vault"]
    print(f"\nunder 4x32 the gateway spends {forwarded:.1f} us of CPU per forwarded GetRecord and {answered:.1f} us per "
          f"CheckConsent it answers itself: forwarding (the client and the task-per-call path) costs at most "
          f"{forwarded - answered:.1f} us a call, against {vault_own:.1f} us in the vault for the same call")


if __name__ == "__main__":
    main()
