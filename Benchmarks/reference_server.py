"""The reference every benchmark is compared with: a trivial Python grpcio server answering the
same RPC with the same kind of work (lookups in memory; OpenRequest writes durably to SQLite),
started the same way (prints `listening on HOST:PORT`, pinned to the server core).

usage: reference_server.py STUBS_DIR consent-check | blocklist-check | open-request
"""
import os
import sys
from concurrent import futures

sys.path.insert(0, sys.argv[1])
import grpc  # noqa: E402


def consent_check(server):
    from privacy.consent.v1 import consent_pb2 as c, consent_pb2_grpc as cg

    granted = {f"subject-{i}" for i in range(0, 10_000, 2)}

    class Consent(cg.ConsentServiceServicer):
        def CheckConsent(self, request, context):
            allowed = request.subject_id in granted
            return c.CheckConsentResponse(allowed=allowed, legal_basis=c.LEGAL_BASIS_CONSENT,
                                          reason=c.CONSENT_REASON_GRANTED if allowed else c.CONSENT_REASON_NO_DECISION)

    cg.add_ConsentServiceServicer_to_server(Consent(), server)


def blocklist_check(server):
    import hashlib
    import hmac
    from privacy.blocklist.v1 import blocklist_pb2 as b, blocklist_pb2_grpc as bg

    pepper = bytes(32)

    def digest(kind, value):
        return hmac.new(pepper, f"{kind}:{value.strip().lower()}".encode(), hashlib.sha256).digest()

    added = b.CheckResult().added_at
    added.GetCurrentTime()
    blocked = {digest(b.IDENTIFIER_KIND_EMAIL, f"person-{i}@example.com"): str(i) for i in range(0, 10_000, 2)}

    class Blocklist(bg.BlocklistServiceServicer):
        def Check(self, request, context):
            results = []
            for index, identifier in enumerate(request.identifiers):
                entry = blocked.get(digest(identifier.kind, identifier.value))
                if entry is None:
                    results.append(b.CheckResult(index=index, kind=identifier.kind))
                else:
                    results.append(b.CheckResult(index=index, kind=identifier.kind, matched=True, entry_id=entry,
                                                 reason="benchmark", added_at=added, request_id=""))
            return b.CheckResponse(matches=results, any_matched=any(r.matched for r in results))

    bg.add_BlocklistServiceServicer_to_server(Blocklist(), server)


def open_request(server):
    import calendar
    import datetime
    import uuid
    from privacy.rights.v1 import rights_pb2 as r, rights_pb2_grpc as rg

    import sqlite3
    import tempfile
    import threading

    database = sqlite3.connect(os.path.join(tempfile.mkdtemp(prefix="reference-"), "rights.sqlite"), isolation_level=None,
                               check_same_thread=False)
    database.execute("PRAGMA journal_mode=WAL")
    database.execute("PRAGMA synchronous=FULL")
    database.execute("CREATE TABLE requests (request_id TEXT PRIMARY KEY, body BLOB)")
    lock = threading.Lock()

    def due(received):
        year, month = (received.year + 1, 1) if received.month == 12 else (received.year, received.month + 1)
        return received.replace(year=year, month=month, day=min(received.day, calendar.monthrange(year, month)[1]))

    class Rights(rg.SubjectRightsServiceServicer):
        def OpenRequest(self, request, context):
            received = datetime.datetime.now(datetime.timezone.utc)
            stored = r.DataSubjectRequest(request_id=str(uuid.uuid4()), subject_id=request.subject_id, right=request.right,
                                          status=r.REQUEST_STATUS_RECEIVED)
            stored.received_at.FromDatetime(received)
            stored.due_at.FromDatetime(due(received))
            with lock:  # durable like the service: one transaction per request, synchronous=FULL
                database.execute("BEGIN")
                database.execute("INSERT INTO requests VALUES (?, ?)", (stored.request_id, stored.SerializeToString()))
                database.execute("COMMIT")
            return r.OpenRequestResponse(request=stored, created=True)

    rg.add_SubjectRightsServiceServicer_to_server(Rights(), server)


HANDLERS = {"consent-check": consent_check, "blocklist-check": blocklist_check, "open-request": open_request}


def main():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    HANDLERS[sys.argv[2]](server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(f"listening on 127.0.0.1:{port}", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
