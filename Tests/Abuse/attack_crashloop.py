"""crashloop: kill -9 under write load, then every acknowledged write must be there and every hash
chain must verify.

For the vault (PutRecord of distinct subjects and values), consent (RecordConsent of distinct
subjects) and the gateway (RecordConsent through it, which also writes an audit entry), several
writer threads write while the service is killed with SIGKILL at seeded random moments and
restarted on the same database and port. A write counts as acknowledged only when its OK answer
arrived. Afterwards: vault GetRecord shows each acknowledged value at its version or later and
VerifyAccessLog is valid; consent lists each acknowledged event and VerifyLedger is valid; the
gateway's ListAudit holds an OK entry for each acknowledged call and VerifyAudit is valid.
"""
from __future__ import annotations

import threading
import time

import chains
import fixtures
import wire
from calls import CallSpec
from cluster import BACKENDS, GATEWAY

NAME = "crashloop"
SHARE = 0.22

WRITERS = 4
KILLS_CI, KILLS_LONG = 5, 20
MIN_KILLS = 2            # even when the time share is spent
FIELD = "abuse_note"
CONSENT = "/privacy.consent.v1.ConsentService/"
VAULT = "/privacy.vault.v1.VaultService/"
ADMIN = "/privacy.gateway.v1.AdminService/"


class Target:
    """What one kill loop writes and how it checks the writes afterwards."""
    loops = 0   # subjects of each loop in a run are distinct (a replay and the attack both write)

    def __init__(self, ctx, server: str):
        Target.loops += 1
        self.prefix = f"cl{Target.loops}-{server.split('-')[0]}"
        self.ctx = ctx
        self.server = server
        self.vault = ctx.protocol.module("vault", "vault")
        self.consent = ctx.protocol.module("consent", "consent")
        self.common = ctx.protocol.module("common", "common")
        self.gateway = ctx.protocol.module("gateway", "gateway")
        self.acked: list[tuple] = []
        self.lock = threading.Lock()

    # -- writing ------------------------------------------------------------------------------

    def write_spec(self, writer: int, number: int) -> tuple[CallSpec, str, str]:
        subject = f"{self.prefix}-{writer}-{number}"
        if self.server == "vault-service":
            value = f"value {writer}/{number} \u00e9\u6f22"
            request = self.vault.PutRecordRequest(subject_id=subject, values={FIELD: value},
                                                  source=self.vault.ValueSource(channel=self.common.CHANNEL_API))
            return CallSpec(self.server, VAULT + "PutRecord", wire.frame(request.SerializeToString())), subject, value
        request = self.consent.RecordConsentRequest(
            subject_id=subject, purpose_id=fixtures.PURPOSE, decision=self.consent.DECISION_GRANTED,
            evidence=self.consent.Evidence(channel=self.common.CHANNEL_API))
        credential = "role:dpo" if self.server == GATEWAY else "internal"
        return CallSpec(self.server, CONSENT + "RecordConsent", wire.frame(request.SerializeToString()),
                        credential), subject, ""

    def writer(self, index: int, stop: threading.Event) -> None:
        number = 0
        while not stop.is_set():
            number += 1
            spec, subject, value = self.write_spec(index, number)
            outcome = spec.send(self.ctx.cluster, wait=5.0)
            self.ctx.ledger.count(outcome.label())
            if outcome.status in (wire.UNKNOWN, wire.INTERNAL):
                self.ctx.violate("no-unknown-internal", spec.server, spec.path,
                                 f"{outcome.describe()} during the kill -9 loop", cause=outcome.label())
            if outcome.status != wire.OK or not outcome.messages:
                time.sleep(0.05)
                continue
            method = self.ctx.protocol.method(spec.path)
            response = method.output_type.FromString(outcome.messages[0])
            with self.lock:
                if self.server == "vault-service":
                    self.acked.append((subject, value, response.version))
                else:
                    self.acked.append((subject, response.event.sequence))

    # -- checking -----------------------------------------------------------------------------

    def verify(self) -> list[tuple[str, str]]:
        """Acknowledged writes present, and the chains this loop wrote to valid."""
        if self.server == "vault-service":
            return self.verify_vault() + chains.problems(self.ctx, [chains.ACCESS_LOG])
        problems = self.verify_consent_events() + chains.problems(self.ctx, [chains.LEDGER])
        if self.server == GATEWAY:
            problems += self.verify_audit() + chains.problems(self.ctx, [chains.AUDIT_LOG])
        return problems

    def verify_vault(self) -> list[tuple[str, str]]:
        requests = [self.vault.GetRecordRequest(subject_id=subject) for subject, _, _ in self.acked]
        missing = []
        for (subject, value, version), (response, outcome) in zip(
                self.acked, self.ctx.unary_many("vault-service", VAULT + "GetRecord", requests)):
            if response is None:
                missing.append(f"{subject}: {outcome.describe()}")
                continue
            stored = {field.name: field.value for field in response.record.fields}
            if stored.get(FIELD) != value or response.record.version < version:
                missing.append(f"{subject}: acknowledged {value!r} at version {version}, found "
                               f"{stored.get(FIELD)!r} at version {response.record.version}")
        return lost("vault PutRecord", missing, len(self.acked))

    def verify_consent_events(self) -> list[tuple[str, str]]:
        requests = [self.consent.ListConsentEventsRequest(subject_id=subject) for subject, _ in self.acked]
        missing = []
        for (subject, sequence), (response, outcome) in zip(
                self.acked, self.ctx.unary_many(BACKENDS[0], CONSENT + "ListConsentEvents", requests)):
            if response is None:
                missing.append(f"{subject}: {outcome.describe()}")
            elif sequence not in [event.sequence for event in response.events]:
                missing.append(f"{subject}: acknowledged event #{sequence} not listed")
        return lost(f"RecordConsent through {self.server}", missing, len(self.acked))

    def verify_audit(self) -> list[tuple[str, str]]:
        method = CONSENT[1:] + "RecordConsent"
        requests = [self.gateway.ListAuditRequest(subject_id=subject, method=method) for subject, _ in self.acked]
        missing = []
        for (subject, _), (response, outcome) in zip(
                self.acked, self.ctx.unary_many(GATEWAY, ADMIN + "ListAudit", requests, depth=16)):
            if response is None:
                missing.append(f"{subject}: ListAudit {outcome.describe()}")
            elif not any(entry.status_code == 0 for entry in response.entries):
                missing.append(f"{subject}: no OK audit entry for the acknowledged call")
        return lost("gateway audit entries", missing, len(self.acked))


def lost(what: str, missing: list[str], total: int) -> list[tuple[str, str]]:
    if not missing:
        return []
    shown = "; ".join(missing[:5]) + (f"; ... ({len(missing) - 5} more)" if len(missing) > 5 else "")
    return [("acked-writes-durable", f"{len(missing)} of {total} acknowledged {what} writes missing after kill -9: "
                                     f"{shown}")]


def kill_loop(ctx, server: str, kills: int, deadline: float) -> list[tuple[str, str]]:
    rng = ctx.rng(f"{NAME}:{server}")
    target = Target(ctx, server)
    stop = threading.Event()
    threads = [threading.Thread(target=target.writer, args=(index, stop), daemon=True) for index in range(WRITERS)]
    for thread in threads:
        thread.start()
    done = 0
    codes = []
    per_kill = max(1.0, (deadline - time.monotonic()) * 0.6 / max(1, kills))
    while done < kills and (done < MIN_KILLS or time.monotonic() < deadline):
        time.sleep(rng.uniform(0.2, min(1.5, per_kill)))
        with ctx.watchdog.planned_outage(server):
            codes.append(ctx.cluster.kill(server))
            ctx.cluster.restart(server)
        done += 1
    time.sleep(0.5)
    stop.set()
    for thread in threads:
        thread.join(timeout=15)
    ctx.wait_recovered()
    problems = [("killed-by-sigkill", f"{server} exited with {code} when killed with SIGKILL")
                for code in codes if code != 137]
    problems += target.verify()
    if not ctx.replaying:
        ctx.ledger.note(f"{server}: {done} kill -9 under {WRITERS} writers, {len(target.acked)} acknowledged writes "
                        f"checked: {'all present, chains valid' if not problems else 'see failures'}")
    return problems


def fresh_start(ctx) -> None:
    """New empty databases, so the verdict is about kill -9 alone (earlier attacks wrote freely)."""
    ctx.fresh_data()
    fixtures.upsert_field(ctx, FIELD)


def run(ctx, deadline: float) -> None:
    fresh_start(ctx)
    servers = ["vault-service", "consent-service", GATEWAY]
    kills = KILLS_LONG if ctx.long else KILLS_CI
    for index, server in enumerate(servers):
        share = (deadline - time.monotonic()) / (len(servers) - index)
        ctx.ledger.phase = f"kill -9 loop of {server}"
        ctx.log(f"  {server}: {kills} kill -9 under {WRITERS} writers")
        problems = kill_loop(ctx, server, kills, time.monotonic() + share * 0.6)
        ctx.report(NAME, server, "kill -9 loop", problems, "kill_loop", {"server": server, "kills": kills},
                   f"kill loop {server}")


def replay_scenario(ctx, name: str, params: dict) -> list[tuple[str, str]]:
    if name != "kill_loop":
        return [("replayable", f"unknown crashloop scenario {name}")]
    fresh_start(ctx)
    return kill_loop(ctx, params["server"], params["kills"], time.monotonic() + 30)
