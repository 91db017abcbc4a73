"""The three hash chains (consent ledger, vault access log, gateway audit log): verify them, and
find the entry where one broke, with the x-request-id that wrote it, so the input can be named.
"""
from __future__ import annotations

import dataclasses

from cluster import GATEWAY

LEDGER, ACCESS_LOG, AUDIT_LOG = "consent ledger", "vault access log", "gateway audit log"
ALL = [LEDGER, ACCESS_LOG, AUDIT_LOG]
SERVER = {LEDGER: "consent-service", ACCESS_LOG: "vault-service", AUDIT_LOG: GATEWAY}
_VERIFY = {
    LEDGER: ("/privacy.consent.v1.ConsentService/VerifyLedger", "consent", "VerifyLedgerRequest"),
    ACCESS_LOG: ("/privacy.vault.v1.VaultService/VerifyAccessLog", "vault", "VerifyAccessLogRequest"),
    AUDIT_LOG: ("/privacy.gateway.v1.AdminService/VerifyAudit", "gateway", "VerifyAuditRequest"),
}


@dataclasses.dataclass
class Broken:
    chain: str
    sequence: int           # first entry that does not verify (0 when the call itself failed)
    problem: str

    def describe(self) -> str:
        return f"{self.chain} broken at #{self.sequence}: {self.problem}"


def verify(ctx, which: list[str] | None = None) -> list[Broken]:
    """The chains (all, or `which`) that do not verify from their first entry."""
    broken = []
    for chain in which or ALL:
        path, package, request = _VERIFY[chain]
        module = ctx.protocol.module(package, package)
        response, outcome = ctx.unary(SERVER[chain], path, getattr(module, request)(), wait=60.0)
        if response is None:
            broken.append(Broken(chain, 0, f"verification call failed: {outcome.describe()}"))
        elif not response.verification.valid:
            result = response.verification
            broken.append(Broken(chain, result.first_broken_sequence,
                                 f"{result.problem} ({result.entries_checked} entries checked)"))
    return broken


def problems(ctx, which: list[str] | None = None) -> list[tuple[str, str]]:
    """("chain-verifies", description) per broken chain, naming the entry that broke."""
    found = []
    for broken in verify(ctx, which):
        entry = locate(ctx, broken)
        found.append(("chain-verifies", broken.describe() + (f"; entry: {entry['description']}" if entry else "")))
    return found


def locate(ctx, broken: Broken) -> dict | None:
    """{"request_id", "description"} of the entry where `broken` starts, or None."""
    if broken.sequence < 1:
        return None
    if broken.chain == LEDGER:
        consent = ctx.protocol.module("consent", "consent")
        response, _ = ctx.unary(SERVER[LEDGER], "/privacy.consent.v1.ConsentService/ListConsentEvents",
                                consent.ListConsentEventsRequest(after_sequence=broken.sequence - 1, page_size=1))
        if response is None or not response.events:
            return None
        event = response.events[0]
        return {"request_id": event.request_id,
                "description": f"{consent.EventKind.Name(event.kind)} of subject {event.subject_id[:40]!r}, reason "
                               f"{event.reason[:40]!r}, request id {event.request_id!r}"}
    if broken.chain == ACCESS_LOG:
        vault = ctx.protocol.module("vault", "vault")
        entry = _page_to(ctx, SERVER[ACCESS_LOG], "/privacy.vault.v1.VaultService/ListAccessLog",
                         lambda token: vault.ListAccessLogRequest(page_size=1000, page_token=token), broken.sequence)
        if entry is None:
            return None
        return {"request_id": entry.request_id,
                "description": f"{vault.AccessKind.Name(entry.kind)} of subject {entry.subject_id[:40]!r} field "
                               f"{entry.field[:40]!r}, reason {entry.reason[:40]!r}, request id {entry.request_id!r}"}
    gateway = ctx.protocol.module("gateway", "gateway")
    entry = _page_to(ctx, GATEWAY, "/privacy.gateway.v1.AdminService/ListAudit",
                     lambda token: gateway.ListAuditRequest(page_size=1000, page_token=token), broken.sequence)
    if entry is None:
        return None
    return {"request_id": entry.request_id,
            "description": f"{entry.method} by {entry.actor}, subject {entry.subject_id[:40]!r}, reason "
                           f"{entry.reason[:40]!r}, status {entry.status_code} {entry.status_message[:60]!r}"}


def _page_to(ctx, server: str, path: str, make_request, sequence: int):
    token = ""
    for _ in range(200):
        response, _ = ctx.unary(server, path, make_request(token), wait=30.0)
        if response is None:
            return None
        for entry in response.entries:
            if entry.sequence == sequence:
                return entry
        token = response.next_page_token
        if not token:
            return None
    return None
