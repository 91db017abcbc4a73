#!/usr/bin/env python3
"""Mail delivered per second by `mail-relay` to a local aiosmtpd, beside what a stock client
(Python's smtplib) gets from the same server in the same run.

The SMTP server (`Tests/Mail/smtp_sink.py --count-only`, which keeps each Message-ID and nothing
else) runs on core 1. On core 0: the consent service, the gateway and the relay for the relay's
row; smtplib alone for the reference rows. The relay's figure is the whole path: it leases the
messages through the gateway (API key, policy, audit log), renders and sends each on a connection
of its own, and acknowledges each through the gateway after the server's 250. The outbox is filled
(double opt-ins through the gateway, not timed) before the relay starts; the clock runs from the
relay's start until the server holds every message.

Checked before the figure is printed: the server holds exactly N messages with N distinct
Message-IDs, and the consent outbox shows every one acknowledged.

usage: Benchmarks/mail_relay.py [--messages N] [--batch-size N] [--bin-dir DIR]
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time

import grpcload
from consent_check import TOKEN

SECRET = "benchmark-service-secret"
SINK = os.path.join(grpcload.ROOT, "Tests", "Mail", "smtp_sink.py")


class Sink:
    """smtp_sink.py on the load core, counting what it accepts."""

    def __init__(self, directory, name):
        self.output = os.path.join(directory, f"{name}.jsonl")
        self.process = subprocess.Popen(["taskset", "-c", grpcload.LOAD_CPU, sys.executable, SINK, self.output, "--count-only"],
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.process.stdout.readline().strip()
        if not line.startswith("listening on "):
            sys.exit(f"smtp_sink.py did not start: {line!r} (pip install aiosmtpd)")
        self.host, port = line[len("listening on "):].rsplit(":", 1)
        self.port = int(port)

    def message_ids(self):
        if not os.path.exists(self.output):
            return []
        with open(self.output) as kept:
            return [json.loads(line)["message_id"] for line in kept if line.strip()]

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)


def smtplib_rate(sink, count, one_connection):
    """Messages per second smtplib delivers from the server core: a connection per message (as
    the relay does) or all on one connection (the server's ceiling)."""
    script = f"""
import smtplib, sys, time
from email.message import EmailMessage
def message(i):
    m = EmailMessage()
    m["From"] = "privacy@example.org"; m["To"] = "person-%d@example.org" % i
    m["Subject"] = "Please confirm your email subscription"; m["Message-ID"] = "<reference.%d@example.org>" % i
    m.set_content("Please confirm that you want to receive our emails:\\n\\nhttps://privacy.example.com/confirm?token=" + "x" * 43)
    m.add_alternative("<p>Please confirm that you want to receive our emails.</p>", subtype="html")
    return m
messages = [message(i) for i in range({count})]
start = time.monotonic()
if {one_connection}:
    with smtplib.SMTP("{sink.host}", {sink.port}) as client:
        for m in messages: client.send_message(m)
else:
    for m in messages:
        with smtplib.SMTP("{sink.host}", {sink.port}) as client: client.send_message(m)
print(time.monotonic() - start)
"""
    before = len(sink.message_ids())
    elapsed = float(subprocess.run(["taskset", "-c", grpcload.SERVER_CPU, sys.executable, "-c", script], check=True,
                                   capture_output=True, text=True).stdout)
    if len(sink.message_ids()) - before != count:
        sys.exit("smtplib: the server did not keep every message; no figure printed")
    return count / elapsed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=10, help="MAIL_BATCH_SIZE of the relay")
    parser.add_argument("--bin-dir", help="use release executables already built there")
    args = parser.parse_args()
    grpcload.require_tools()
    try:
        import aiosmtpd  # noqa: F401
    except ImportError:
        sys.exit("missing aiosmtpd: pip install aiosmtpd")
    grpcload.python_stubs("privacy/consent/v1/consent.proto")
    import grpc
    from privacy.consent.v1 import consent_pb2 as c, consent_pb2_grpc as cg

    bin_path = grpcload.build_release("consent-service", "gateway", "mail-relay", bin_dir=args.bin_dir)
    count = args.messages
    metadata = [("authorization", f"Bearer bench.{SECRET}")]
    with tempfile.TemporaryDirectory() as data:
        keys = os.path.join(data, "keys.yaml")
        with open(keys, "w") as out:
            digest = hashlib.sha256(SECRET.encode()).hexdigest()
            dpo = hashlib.sha256(b"benchmark-dpo-secret").hexdigest()
            out.write(f"keys:\n  - {{id: bench, role: service, actor: relay@example.com, sha256: {digest}}}\n"
                      f"  - {{id: dpo, role: dpo, actor: dpo@example.com, sha256: {dpo}}}\n")
        common = {"GRPC_PORT": "0", "INTERNAL_TOKEN": TOKEN, "LOG_LEVEL": "error"}
        consent = grpcload.Server([os.path.join(bin_path, "consent-service")], {
            **common, "DATABASE_URL": f"sqlite://{data}/consent.sqlite", "PUBLIC_BASE_URL": "https://privacy.example.com"})
        gateway = grpcload.Server([os.path.join(bin_path, "gateway")], {
            **common, "DATABASE_URL": f"sqlite://{data}/gateway.sqlite", "GATEWAY_API_KEYS_FILE": keys,
            "CONSENT_SERVICE_ADDR": consent.address})
        sink = Sink(data, "relay")
        reference = Sink(data, "reference")
        relay = None
        try:
            stub = cg.ConsentServiceStub(grpc.insecure_channel(gateway.address))
            dpo_metadata = [("authorization", "Bearer dpo.benchmark-dpo-secret")]
            for i in range(count):
                stub.StartDoubleOptIn(c.StartDoubleOptInRequest(subject_id=f"mail-{i}", email_address=f"person-{i}@example.org"),
                                      metadata=dpo_metadata)
            start = time.monotonic()
            relay = subprocess.Popen(["taskset", "-c", grpcload.SERVER_CPU, os.path.join(bin_path, "mail-relay")], env={
                **os.environ, "ALLOW_INSECURE_DEV": "1", "PRIVACY_GATEWAY_ADDR": gateway.address,
                "MAIL_RELAY_API_KEY": f"bench.{SECRET}", "MAIL_FROM": "Privacy <privacy@example.org>",
                "SMTP_URL": f"smtp://{sink.host}:{sink.port}", "MAIL_BATCH_SIZE": str(args.batch_size),
                "MAIL_POLL_INTERVAL_MS": "50", "LOG_LEVEL": "error"}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            while len(sink.message_ids()) < count:
                if time.monotonic() - start > 600 or relay.poll() is not None:
                    sys.exit(f"the relay delivered {len(sink.message_ids())} of {count}; no figure printed")
                time.sleep(0.01)
            relay_rate = count / (time.monotonic() - start)
            time.sleep(1)
            ids = sink.message_ids()
            pending, acked, token = 0, 0, ""
            while True:
                page = stub.ListOutbox(c.ListOutboxRequest(include_acked=True, page_size=1000, page_token=token), metadata=metadata)
                acked += sum(1 for m in page.messages if m.HasField("acked_at"))
                pending += sum(1 for m in page.messages if not m.HasField("acked_at"))
                token = page.next_page_token
                if not token:
                    break
            check = (f"server kept {len(ids):,} messages with {len(set(ids)):,} distinct Message-IDs; "
                     f"outbox: {acked:,} acknowledged, {pending:,} not")
            if len(ids) != count or len(set(ids)) != count or acked != count or pending != 0:
                sys.exit(f"check failed, no figure printed: {check}")
            per_connection = smtplib_rate(reference, count, one_connection=False)
            one_connection = smtplib_rate(reference, count, one_connection=True)
        finally:
            if relay and relay.poll() is None:
                relay.terminate()
                relay.wait(timeout=30)
            sink.stop()
            reference.stop()
            gateway.stop()
            consent.stop()

    print(f"\nMail to a local aiosmtpd (server on core {grpcload.LOAD_CPU}, senders on core {grpcload.SERVER_CPU}), {count:,} messages")
    print(f"  {'sender':<62} {'msg/s':>8}")
    print(f"  {'mail-relay (lease, send, ack through the gateway; batch %d)' % args.batch_size:<62} {relay_rate:>8,.0f}")
    print(f"  {'smtplib, a connection per message':<62} {per_connection:>8,.0f}")
    print(f"  {'smtplib, one connection for all (the server ceiling)':<62} {one_connection:>8,.0f}")
    print(f"  relay / smtplib per connection: {relay_rate / per_connection:.2f}x; relay / ceiling: {relay_rate / one_connection:.2f}x")
    print(f"\ncheck: {check}")


if __name__ == "__main__":
    main()
