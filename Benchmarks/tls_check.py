#!/usr/bin/env python3
"""What TLS costs: CheckConsent straight to the consent service in plaintext and over TLS, and
through the gateway in plaintext and with TLS to the gateway plus mutual TLS from the gateway to
the consent service, all in one run with the same h2load settings (1x1 and 4x32; h2load speaks
TLS 1.3 with ALPN h2). Servers on core 0, load on core 1. Certificates are made for the run with
the openssl command (a CA, a server certificate for 127.0.0.1, the gateway's client certificate).
After each row through the gateway its audit log must have grown by at least the calls counted,
or no figure is printed.

usage: Benchmarks/tls_check.py [--seconds N] [--bin-dir DIR]
"""
import hashlib
import os
import subprocess
import sys
import tempfile

import grpcload
from consent_check import TOKEN, seed
from gateway_check import audit_entries

SECRET = "benchmark-secret"
GATEWAY_IDENTITY = "spiffe://privacy.local/gateway"


def openssl(*arguments):
    subprocess.run(["openssl", *arguments], check=True, capture_output=True)


def make_certificates(folder):
    """A CA, a server certificate for 127.0.0.1 and the gateway's client certificate, as PEM files."""
    ca_key, ca = os.path.join(folder, "ca.key"), os.path.join(folder, "ca.pem")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", ca_key, "-out", ca,
            "-days", "1", "-subj", "/CN=benchmark-ca")
    issued = {}
    for name, extensions in (("server", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"),
                             ("gateway", f"subjectAltName=URI:{GATEWAY_IDENTITY}\nextendedKeyUsage=clientAuth\n")):
        key, csr, pem, ext = (os.path.join(folder, f"{name}.{suffix}") for suffix in ("key", "csr", "pem", "ext"))
        with open(ext, "w") as out:
            out.write(extensions)
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", csr,
                "-subj", f"/CN={name}")
        openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", pem, "-days", "1",
                "-extfile", ext)
        issued[name] = (pem, key)
    return ca, issued


def main():
    args = grpcload.load_arguments()
    grpcload.require_tools()
    grpcload.python_stubs("privacy/consent/v1/consent.proto")
    import grpc
    from privacy.consent.v1 import consent_pb2 as c, consent_pb2_grpc as cg

    bin_path = grpcload.build_release("consent-service", "gateway", bin_dir=args.bin_dir)
    request = c.CheckConsentRequest(subject_id="subject-4242", purpose_id="newsletter")
    payload = grpcload.frame(request)
    method = "privacy.consent.v1.ConsentService/CheckConsent"
    rows = {}
    checks = []

    def measure(name, address, headers, scheme, audit=None):
        """Loads one server; with `audit` (the gateway's database), checks the audit log after each row."""
        for clients, streams in ((1, 1), (4, 32)):
            before = audit_entries(audit) if audit else 0
            qps, p50, p99, failed, succeeded = grpcload.h2load(address, method, payload, headers, clients, streams, args.seconds,
                                                               scheme)
            if failed > qps * args.seconds * 0.001:
                sys.exit(f"{name}: {failed} requests failed")
            if audit:
                added = audit_entries(audit) - before
                check = f"{name} {clients}x{streams}: {succeeded:,} calls counted, {added:,} audit entries added"
                checks.append(check)
                if added < succeeded:
                    sys.exit(f"audit check failed, no figure printed: {check}")
            rows.setdefault((clients, streams), []).append((name, qps, p50, p99))

    with tempfile.TemporaryDirectory() as data:
        ca, issued = make_certificates(data)
        (server_pem, server_key), (client_pem, client_key) = issued["server"], issued["gateway"]
        keys = os.path.join(data, "keys.yaml")
        with open(keys, "w") as out:
            digest = hashlib.sha256(SECRET.encode()).hexdigest()
            out.write(f"keys:\n  - {{id: bench, role: service, actor: bench@example.com, sha256: {digest}}}\n")
        common = {"GRPC_PORT": "0", "INTERNAL_TOKEN": TOKEN, "LOG_LEVEL": "error"}
        tls = {"TLS_CERT_FILE": server_pem, "TLS_KEY_FILE": server_key}
        gateway_headers = {"authorization": f"Bearer bench.{SECRET}"}
        for secure in (False, True):
            scheme = "https" if secure else "http"
            label = "TLS" if secure else "plaintext"
            consent_env = {**common, "DATABASE_URL": f"sqlite://{data}/consent-{label}.sqlite"}
            if secure:
                consent_env.update(tls)
            consent = grpcload.Server([os.path.join(bin_path, "consent-service")], consent_env)
            gateway = None
            try:
                if secure:
                    credentials = grpc.ssl_channel_credentials(root_certificates=open(ca, "rb").read())
                    seed_channel = grpc.secure_channel(consent.address, credentials)
                else:
                    seed_channel = grpc.insecure_channel(consent.address)
                seed(consent.address, c, cg, grpc, channel=seed_channel)
                measure(f"direct, {label}", consent.address, {"x-internal-token": TOKEN}, scheme)
                consent.stop()
                # The consent service again, now behind the gateway: with mutual TLS when secure.
                if secure:
                    consent_env.update({"TLS_CLIENT_CA_FILE": ca, "TLS_ALLOWED_CLIENTS": GATEWAY_IDENTITY})
                consent = grpcload.Server([os.path.join(bin_path, "consent-service")], consent_env)
                gateway_env = {**common, "DATABASE_URL": f"sqlite://{data}/gateway-{label}.sqlite", "GATEWAY_API_KEYS_FILE": keys,
                               "CONSENT_SERVICE_ADDR": consent.address}
                if secure:
                    gateway_env.update({**tls, "BACKEND_TLS_CA_FILE": ca, "BACKEND_TLS_CERT_FILE": client_pem,
                                        "BACKEND_TLS_KEY_FILE": client_key})
                gateway = grpcload.Server([os.path.join(bin_path, "gateway")], gateway_env)
                measure(f"gateway, {label}" + (" + mTLS behind" if secure else ""), gateway.address, gateway_headers, scheme,
                        audit=f"{data}/gateway-{label}.sqlite")
            finally:
                if gateway:
                    gateway.stop()
                consent.stop()

    for (clients, streams), table in rows.items():
        grpcload.print_table(f"CheckConsent, {clients} connection(s) x {streams} stream(s), {args.seconds} s", table)
        by_name = {name: qps for name, qps, _, _ in table}
        print(f"  direct: TLS / plaintext {by_name['direct, TLS'] / by_name['direct, plaintext']:.2f}x the QPS")
        print(f"  gateway: TLS + mTLS / plaintext {by_name['gateway, TLS + mTLS behind'] / by_name['gateway, plaintext']:.2f}x the QPS")
    print("\naudit checks (the gateway's log after each row through it; at least one entry per counted call,")
    print("h2load's warm-up calls are not counted):")
    for line in checks:
        print(f"  {line}")


if __name__ == "__main__":
    main()
