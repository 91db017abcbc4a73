"""Data the attacks need to exist (a purpose, vault fields, a record, a consent) so fuzzed calls
reach the handlers' deeper paths, and the gateway role that may call each method."""
from __future__ import annotations

import fnmatch

import wire
from cluster import GATEWAY, ROLES

PURPOSE = "newsletter"
SUBJECT = "c-1001"
# Roles tried first when several may call a method: the brief's dpo and support, then the rest.
ROLE_PREFERENCE = ["dpo", "support"] + [role for role in ROLES if role not in ("dpo", "support")]


def upsert_purpose(ctx, purpose_id: str = PURPOSE) -> None:
    consent = ctx.protocol.module("consent", "consent")
    request = consent.UpsertPurposeRequest(purpose=consent.Purpose(
        purpose_id=purpose_id, title="Newsletter", legal_basis=consent.LEGAL_BASIS_CONSENT,
        category=consent.PURPOSE_CATEGORY_EMAIL_MARKETING, notice_version="v1", notice_text="We send news."))
    _require(ctx.unary("consent-service", "/privacy.consent.v1.ConsentService/UpsertPurpose", request), "UpsertPurpose")


def upsert_field(ctx, name: str, tags=()) -> None:
    vault = ctx.protocol.module("vault", "vault")
    request = vault.UpsertFieldRequest(name=name, classification=vault.CLASSIFICATION_PERSONAL, searchable=True,
                                       tags=list(tags))
    _require(ctx.unary("vault-service", "/privacy.vault.v1.VaultService/UpsertField", request), "UpsertField")


def seed(ctx) -> None:
    """A purpose, an email field, one record and one consent."""
    upsert_purpose(ctx)
    upsert_field(ctx, "email", tags=["email"])
    vault = ctx.protocol.module("vault", "vault")
    common = ctx.protocol.module("common", "common")
    consent = ctx.protocol.module("consent", "consent")
    _require(ctx.unary("vault-service", "/privacy.vault.v1.VaultService/PutRecord", vault.PutRecordRequest(
        subject_id=SUBJECT, values={"email": "ada@example.org"},
        source=vault.ValueSource(channel=common.CHANNEL_WEBFORM))), "PutRecord")
    _require(ctx.unary("consent-service", "/privacy.consent.v1.ConsentService/RecordConsent",
                       consent.RecordConsentRequest(subject_id=SUBJECT, purpose_id=PURPOSE,
                                                    decision=consent.DECISION_GRANTED,
                                                    evidence=consent.Evidence(channel=common.CHANNEL_WEBFORM))),
             "RecordConsent")


def _require(result, what: str) -> None:
    response, outcome = result
    if response is None:
        raise RuntimeError(f"setting up test data: {what} failed: {outcome.describe()}")


def gateway_roles(ctx) -> dict[str, str]:
    """For each method the gateway serves, a role allowed to call it (from WhoAmI of each role's
    key); methods no role may call get dpo and are fuzzed through the refusal path."""
    gateway = ctx.protocol.module("gateway", "gateway")
    grants: dict[str, list[str]] = {}
    for role in ROLES:
        response, outcome = ctx.unary(GATEWAY, "/privacy.gateway.v1.AdminService/WhoAmI", gateway.WhoAmIRequest(),
                                      credential=f"role:{role}")
        if response is None:
            if outcome.status != wire.UNAUTHENTICATED:
                raise RuntimeError(f"WhoAmI as {role}: {outcome.describe()}")
            continue
        grants[role] = list(response.methods)
    chosen = {}
    for method in ctx.protocol.served_by(GATEWAY):
        chosen[method.path] = next(
            (role for role in ROLE_PREFERENCE
             if any(fnmatch.fnmatchcase(method.full_name, pattern) for pattern in grants.get(role, []))), "dpo")
    return chosen
