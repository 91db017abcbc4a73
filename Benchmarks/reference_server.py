"""The reference every benchmark is compared with: a trivial Python grpcio server answering the
same RPC with the same kind of in-memory lookup, started the same way (prints
`listening on HOST:PORT`, pinned to the server core).

usage: reference_server.py STUBS_DIR consent-check | blocklist-check | open-request | echo SERVICE METHOD
"""
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


HANDLERS = {"consent-check": consent_check}


def main():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    HANDLERS[sys.argv[2]](server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(f"listening on 127.0.0.1:{port}", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
