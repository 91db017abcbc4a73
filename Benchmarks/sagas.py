"""The gateway's workflows on a data directory filled by `privacy-suite seed`, for scale.py.

Three rows, each through the gateway with a `dpo` API key (authentication, policy and the
write-ahead audit log included), one call in flight:
- the erasure saga end to end: ExecuteRequest on the verified ERASURE requests the seeder opened
  (one subject in 200), each checked afterwards to be COMPLETED, with the vault records marked
  erased in its database;
- the access saga end to end: ExecuteRequest on the seeder's ACCESS requests (one subject in 200),
  each verified by hand first (not timed), checked COMPLETED with an artifact;
- a retention sweep: RunRetentionSweep, which finds the 1 % of subjects the seeded policy makes due
  (no engagement for two years) among all N and runs an erasure saga for each; checked: as many
  subjects due, opened and completed as the seed made inactive, as many vault records marked
  erased, and a second sweep finds none due.
A row whose check fails is not printed.
"""
import hashlib
import os
import sqlite3
import sys
import time

import grpcload

SECRET = "benchmark-dpo-secret"


def start(bin_path, data, common, consent_address, vault_address):
    """The subject-rights and blocklist services and the gateway on the seeded directory; returns
    the servers (gateway last) and the gateway's call metadata."""
    keys = os.path.join(data, "bench-keys.yaml")
    with open(keys, "w") as out:
        out.write(f"keys:\n  - {{id: dpo, role: dpo, actor: dpo@example.com, sha256: {hashlib.sha256(SECRET.encode()).hexdigest()}}}\n")
    rights = grpcload.Server([os.path.join(bin_path, "subject-rights-service")],
                             {**common, "DATABASE_URL": f"sqlite://{data}/subject-rights-service.sqlite"})
    blocklist = grpcload.Server([os.path.join(bin_path, "blocklist-service")], {
        **common, "DATABASE_URL": f"sqlite://{data}/blocklist-service.sqlite",
        "BLOCKLIST_PEPPER_FILE": f"{data}/dev-blocklist-pepper"})
    gateway = grpcload.Server([os.path.join(bin_path, "gateway")], {
        **common, "DATABASE_URL": f"sqlite://{data}/gateway.sqlite", "GATEWAY_API_KEYS_FILE": keys,
        "GATEWAY_AUDIT_KEY_FILE": f"{data}/dev-gateway-audit-key", "GATEWAY_WORKFLOW_TIMEOUT_MS": "3600000",
        "CONSENT_SERVICE_ADDR": consent_address, "VAULT_SERVICE_ADDR": vault_address,
        "RIGHTS_SERVICE_ADDR": rights.address, "BLOCKLIST_SERVICE_ADDR": blocklist.address})
    return [rights, blocklist, gateway], [("authorization", f"Bearer dpo.{SECRET}")]


def copy_caught_up(address, metadata, timeout=3600):
    """Waits until the gateway's copy of the consent ledger answers checks (GetBackendHealth);
    returns the seconds waited and the copy's state."""
    import grpc
    from privacy.gateway.v1 import gateway_pb2 as g, gateway_pb2_grpc as gg

    admin = gg.AdminServiceStub(grpc.insecure_channel(address))
    start = time.monotonic()
    while True:
        copy = admin.GetBackendHealth(g.GetBackendHealthRequest(), metadata=metadata).consent_copy
        if copy.answering:
            return time.monotonic() - start, copy
        if time.monotonic() - start > timeout:
            sys.exit(f"the gateway's copy of the consent ledger did not catch up within {timeout} s: {copy}")
        time.sleep(0.1)


def erased_records(data):
    with sqlite3.connect(f"file:{data}/vault-service.sqlite?mode=ro", uri=True) as db:
        return db.execute("SELECT COUNT(*) FROM records WHERE erasure IS NOT NULL").fetchone()[0]


def requests(stub, metadata, right, status):
    from privacy.rights.v1 import rights_pb2 as r

    found, token = [], ""
    while True:
        page = stub.ListRequests(r.ListRequestsRequest(filter=r.RequestFilter(right=right, status=status), page_size=1000,
                                                       page_token=token), metadata=metadata)
        found += page.requests
        token = page.next_page_token
        if not token:
            return found


def run_sagas(admin, metadata, pending, seconds, before_each=None):
    """ExecuteRequest on `pending` requests one at a time for about `seconds`; returns the
    responses and their latencies in ms (`before_each` runs untimed before each call)."""
    from privacy.gateway.v1 import gateway_pb2 as g

    answers, latencies = [], []
    while pending and sum(latencies) < seconds * 1000:
        request = pending.pop(0)
        if before_each:
            before_each(request)
        start = time.monotonic()
        answers.append(admin.ExecuteRequest(g.ExecuteRequestRequest(request_id=request.request_id), metadata=metadata, timeout=600))
        latencies.append((time.monotonic() - start) * 1000)
    return answers, latencies


def row(name, latencies):
    """One call in flight: the rate is the inverse of the mean latency."""
    ordered = sorted(latencies)
    return name, 1000 * len(ordered) / sum(ordered), ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def measure(gateway_address, data, size, seconds, metadata):
    """Returns rows (name, QPS, p50, p99) and the checks behind them; exits when a check fails."""
    import grpc
    from privacy.gateway.v1 import gateway_pb2 as g, gateway_pb2_grpc as gg
    from privacy.rights.v1 import rights_pb2 as r, rights_pb2_grpc as rg

    channel = grpc.insecure_channel(gateway_address)
    admin, rights = gg.AdminServiceStub(channel), rg.SubjectRightsServiceStub(channel)
    rows, checks = [], []

    # Erasure sagas.
    pending = requests(rights, metadata, r.RIGHT_ERASURE, r.REQUEST_STATUS_VERIFIED)
    seeded = len(pending)
    before = erased_records(data)
    answers, latencies = run_sagas(admin, metadata, pending, seconds)
    completed = sum(answer.status == r.REQUEST_STATUS_COMPLETED for answer in answers)
    erased = erased_records(data) - before
    check = (f"erasure sagas at {size:,}: {len(answers):,} of {seeded:,} seeded requests executed, {completed:,} "
             f"COMPLETED, {erased:,} vault records marked erased")
    if not answers or completed != len(answers) or erased != len(answers):
        sys.exit(f"erasure saga check failed, no figure printed: {check}")
    rows.append(row("erasure saga (ExecuteRequest) 1x1", latencies))
    checks.append(check)

    # Access sagas, each request verified by hand just before (not timed).
    pending = requests(rights, metadata, r.RIGHT_ACCESS, r.REQUEST_STATUS_RECEIVED)
    seeded = len(pending)

    def verify(request):
        rights.VerifyManually(r.VerifyManuallyRequest(request_id=request.request_id, note="benchmark"), metadata=metadata)

    answers, latencies = run_sagas(admin, metadata, pending, seconds, before_each=verify)
    completed = sum(answer.status == r.REQUEST_STATUS_COMPLETED and answer.artifact.size_bytes > 0 for answer in answers)
    check = (f"access sagas at {size:,}: {len(answers):,} of {seeded:,} seeded requests executed, {completed:,} "
             f"COMPLETED with an artifact")
    if not answers or completed != len(answers):
        sys.exit(f"access saga check failed, no figure printed: {check}")
    rows.append(row("access saga (ExecuteRequest) 1x1", latencies))
    checks.append(check)

    # The retention sweep over the 1 % the seed made inactive.
    inactive = size // 100
    before = erased_records(data)
    start = time.monotonic()
    sweep = admin.RunRetentionSweep(g.RunRetentionSweepRequest(), metadata=metadata, timeout=7200)
    sweep_seconds = time.monotonic() - start
    erased = erased_records(data) - before
    again = admin.RunRetentionSweep(g.RunRetentionSweepRequest(), metadata=metadata, timeout=7200)
    check = (f"retention sweep at {size:,}: {sweep.subjects_due:,} due, {sweep.requests_opened:,} opened, "
             f"{sweep.requests_completed:,} completed, {len(sweep.failures)} failed, {erased:,} vault records marked erased, "
             f"{sweep.purpose_retention_subjects:,} by purpose retention (the seed made {inactive:,} inactive); "
             f"a second sweep: {again.subjects_due} due")
    if (sweep.subjects_due != inactive or sweep.requests_completed != inactive or sweep.failures or erased != inactive
            or again.subjects_due != 0):
        sys.exit(f"retention sweep check failed, no figure printed: {check}")
    checks.append(check)
    notes = [f"retention sweep over {inactive:,} due of {size:,} subjects: {sweep_seconds:.1f} s, "
             f"{inactive / sweep_seconds:,.1f} subjects erased a second"]
    return rows, checks + notes
