"""What every attack works with: the cluster, the generated protocol, the ledger, the watchdog,
seeded randomness, and the recording of a call's outcome against the properties."""
from __future__ import annotations

import random
import time
import zlib

import fixtures
import h2client
import properties
import wire
from calls import CallSpec
from cluster import BACKENDS, GATEWAY


class Context:
    def __init__(self, cluster, protocol, ledger, watchdog, seed: int, long: bool, log=print):
        self.cluster = cluster
        self.protocol = protocol
        self.ledger = ledger
        self.watchdog = watchdog
        self.seed = seed
        self.long = long
        self.log = log
        self.replaying = False     # regression replays record no new cases

    def rng(self, name: str) -> random.Random:
        """A generator per attack, so --only and new attacks do not shift the others' inputs."""
        return random.Random(self.seed * 1_000_003 + zlib.crc32(name.encode()))

    # -- cases and violations ---------------------------------------------------------------

    def case(self, prop: str, detail: str, calls: list[CallSpec] | None = None, scenario: dict | None = None,
             expect: dict | None = None, server: str = "", method: str = "") -> dict:
        """A regression case (see regressions.py) for a violation."""
        if calls:
            replay = {"kind": "calls", "calls": [spec.to_json() for spec in calls]}
            server = server or calls[0].server
            method = method or calls[0].path
        else:
            replay = {"kind": "scenario", **(scenario or {})}
        if expect:
            replay["expect"] = expect
        return {"attack": self.ledger.attack, "property": prop, "server": server, "method": method,
                "what_went_wrong": detail, "seed": self.seed, "replay": replay}

    def violate(self, prop: str, server: str, method: str, detail: str, cause: str = "", calls=None,
                scenario=None, expect=None, input_size: int = 0, grouped: bool = False):
        case = None
        if not self.replaying and (calls or scenario):
            case = self.case(prop, detail, calls, scenario, expect, server, method)
        violation = self.ledger.violate(prop, server, method, detail, cause, case, input_size, grouped=grouped)
        if violation.count == 1:
            self.log(f"  FAIL {prop} [{self.ledger.attack}] {server} {method}: {detail[:300]}")
        return violation

    def record(self, spec: CallSpec, outcome: h2client.Outcome, streaming: bool = False, count: bool = True) -> list:
        """Counts the outcome and reports every generic property it breaks. Breaks are grouped by
        cause (the input's kind and the answer's shape), not per server or method: one library
        path answers every method alike, and one case per cause is enough to replay."""
        if count:
            self.ledger.count(outcome.label())
        reset_required = any(properties.malformed_in_http2(value) for _, value in spec.headers) or (
            spec.timeout is not None and properties.malformed_in_http2(spec.timeout))
        broken = properties.check(outcome, spec.body, streaming, reset_required)
        for prop, detail, cause in broken:
            cause = f"{spec.kind}:{cause}" if prop in ("status-on-every-stream", "no-unknown-internal") else cause
            known = self.ledger.violations.get(self.ledger.signature(prop, self.ledger.attack, "*", "*", cause))
            if known is not None and len(spec.body) >= known.input_size:
                known.count += 1
                known.seen_on.add(spec.server)
                continue
            self.violate(prop, spec.server, spec.path, f"{detail}; input: {spec.brief()}", cause, calls=[spec],
                         input_size=len(spec.body), grouped=True)
        return broken

    # -- process state ----------------------------------------------------------------------

    def affected(self, server: str) -> list[str]:
        """Servers a call to `server` reaches: the gateway forwards to every backend."""
        return [server] + (BACKENDS if server == GATEWAY else [])

    def broken_servers(self, servers: list[str], settle: float = 0.3) -> list[str]:
        """Which of `servers` have exited or trapped, checked directly (not waiting for the
        watchdog) for up to `settle` seconds."""
        deadline = time.monotonic() + settle
        while True:
            broken = []
            with self.cluster.lock:
                for name in servers:
                    process = self.cluster.processes[name]
                    if process.exit_code() is not None or process.has_crash_reporter():
                        broken.append(name)
            if broken or time.monotonic() >= deadline:
                return broken
            time.sleep(0.05)

    def wait_recovered(self, servers: list[str] | None = None, timeout: float = 60.0) -> bool:
        """Waits until the watchdog has restarted every dead server and each answers health."""
        servers = servers or list(self.cluster.processes)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.watchdog.lock:
                open_outage = any(window[1] is None for name in servers for window in self.watchdog.outages[name])
            if not open_outage and not self.broken_servers(servers, settle=0):
                if all(self.health_ok(name) for name in servers):
                    return True
            time.sleep(0.2)
        return False

    def health_ok(self, server: str) -> bool:
        host, port = self.cluster.address(server)
        outcome = h2client.call(host, port, wire.HEALTH_CHECK, wire.frame(wire.EMPTY_MESSAGE), wait=2.0)
        return outcome.status == wire.OK

    def claim_deaths(self, since: float, servers: list[str] | None = None) -> list[dict]:
        """Deaths noticed since `since` (of `servers`), marked as explained by the caller."""
        claimed = []
        for death in self.watchdog.deaths_since(since):
            if servers is None or death["server"] in servers:
                death["claimed"] = True
                claimed.append(death)
        return claimed

    @staticmethod
    def death_detail(death: dict, lines: int = 12) -> str:
        """How a server died, with the end of its standard error (its backtrace, if any)."""
        tail = death["process"].stderr_tail(lines)
        return f"{death['server']} died ({death['how']}); stderr tail:\n{tail}"

    def report_unclaimed_deaths(self, since: float) -> None:
        """Deaths during an attack that it did not tie to an input are violations on their own."""
        for death in self.watchdog.deaths_since(since):
            if death.get("claimed"):
                continue
            death["claimed"] = True
            self.violate("process-alive", death["server"], "-",
                         f"during {death['attack']}, input not isolated: {self.death_detail(death)}",
                         cause=death["how"][:20])

    def deaths_after(self, server: str, what: str) -> list[tuple[str, str]]:
        """A problem for each server an input sent to `server` killed; waits for their restart."""
        broken = self.broken_servers(self.affected(server), settle=0.5)
        if not broken:
            return []
        noticed = time.monotonic() + 5
        while time.monotonic() < noticed and not self.watchdog.deaths_since(time.monotonic() - 60):
            time.sleep(0.05)
        deaths = {death["server"]: death for death in self.claim_deaths(time.monotonic() - 60)}
        self.wait_recovered()
        return [("process-alive", f"{what} killed " + (self.death_detail(deaths[name]) if name in deaths else name))
                for name in broken]

    def report(self, attack: str, server: str, method: str, problems: list[tuple[str, str]], scenario: str,
               params: dict, cause: str) -> None:
        """Violations for a scenario's problems, the scenario as the regression case. A replay
        reports the problems itself, so nothing is recorded while replaying."""
        if self.replaying:
            return
        by_property: dict[str, list[str]] = {}
        for prop, detail in problems:
            by_property.setdefault(prop, []).append(detail)
        for prop, details in by_property.items():
            self.violate(prop, server, method, "; ".join(details), cause=cause,
                         scenario={"attack": attack, "name": scenario, "params": params}, grouped=True)

    def fresh_data(self) -> None:
        """Every server restarted on new empty databases, with the fixtures' data."""
        with self.watchdog.planned_outages(list(self.cluster.processes)):
            self.cluster.fresh_data()
        fixtures.seed(self)

    # -- typed calls ------------------------------------------------------------------------

    def unary_many(self, server: str, path: str, requests: list, credential: str | None = None,
                   depth: int = 64, wait: float = 30.0) -> list:
        """Calls `path` once per request message over one connection, `depth` at a time; a list of
        (decoded response or None, outcome) in request order."""
        method = self.protocol.method(path)
        credential = credential or ("role:dpo" if server == GATEWAY else "internal")
        results: list = [None] * len(requests)
        connection = h2client.Connection(*self.cluster.address(server))
        try:
            pending = list(enumerate(requests))
            in_flight = []
            give_up = time.monotonic() + wait
            while (pending or in_flight) and time.monotonic() < give_up and not connection.closed:
                while pending and len(in_flight) < depth:
                    index, request = pending.pop(0)
                    spec = CallSpec(server, path, wire.frame(request.SerializeToString()), credential)
                    in_flight.append((index, spec.start_on(connection, self.cluster, None)[1]))
                connection.pump(0.05)
                still = []
                for index, outcome in in_flight:
                    if outcome.ended:
                        response = None
                        if outcome.status == wire.OK and outcome.messages:
                            response = method.output_type.FromString(outcome.messages[0])
                        results[index] = (response, outcome)
                    else:
                        still.append((index, outcome))
                in_flight = still
        finally:
            connection.close()
        for index, result in enumerate(results):
            if result is None:
                results[index] = (None, h2client.Outcome(timed_out=True))
        return results

    def unary(self, server: str, path: str, request, credential: str | None = None, wait: float = 15.0,
              timeout: str | None = None):
        """Calls `path` with a protobuf message; (decoded response or None, outcome)."""
        method = self.protocol.method(path)
        credential = credential or ("role:dpo" if server == GATEWAY else "internal")
        spec = CallSpec(server, path, wire.frame(request.SerializeToString()), credential, timeout)
        outcome = spec.send(self.cluster, wait=wait)
        response = None
        if outcome.status == wire.OK and outcome.messages:
            response = method.output_type.FromString(outcome.messages[0])
        return response, outcome
