"""What the run observed: requests and outcomes per attack, deaths, health latency, memory peaks,
and every property violation with the input that caused it.

Violations are grouped by a signature (property, attack, server, method, cause) so ten thousand
INTERNALs from one cause read as one finding with a count and its smallest input. A grouped
violation (one mechanism shared by every server and method, such as the framing code or an error
message helper) leaves server and method out of its signature and lists where it was seen.
"""
from __future__ import annotations

import collections
import dataclasses
import threading
import time

from cluster import SERVERS

MIB = 1024 * 1024


@dataclasses.dataclass
class Violation:
    prop: str                 # the property that broke, e.g. "no-unknown-internal"
    attack: str
    server: str               # the server the input was sent to
    method: str               # the method path, or a scenario name
    detail: str               # what went wrong, in words
    signature: str            # groups violations of one cause
    case: dict | None = None  # a replayable regression case (see regressions.py)
    count: int = 1
    input_size: int = 0
    seen_on: set = dataclasses.field(default_factory=set)   # servers it was seen on


@dataclasses.dataclass
class AttackStats:
    requests: int = 0
    labels: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    deaths: int = 0
    worst_health_ms: float = 0.0
    health_probes: int = 0
    peak_rss: dict = dataclasses.field(default_factory=dict)
    seconds: float = 0.0


class Ledger:
    def __init__(self):
        self.lock = threading.RLock()
        self.stats: dict[str, AttackStats] = {}
        self.order: list[str] = []
        self.violations: dict[str, Violation] = {}
        self.attack = "startup"
        self._phase = ""           # the step of the attack running now (an h2abuse scenario...)
        self.phase_started = time.monotonic()
        self.notes: list[str] = []
        self.on_new_violation = None   # callback(violation), to save regression cases

    @property
    def phase(self) -> str:
        return self._phase

    @phase.setter
    def phase(self, name: str) -> None:
        with self.lock:
            self._phase = name
            self.phase_started = time.monotonic()

    def begin(self, attack: str) -> None:
        with self.lock:
            self.attack = attack
            self.phase = ""
            self.begin_stats(attack)

    def begin_stats(self, attack: str) -> None:
        with self.lock:
            if attack not in self.stats:
                self.stats[attack] = AttackStats()
                self.order.append(attack)

    def current(self) -> AttackStats:
        with self.lock:
            self.begin_stats(self.attack)
            return self.stats[self.attack]

    def count(self, label: str, requests: int = 1, attack: str | None = None) -> None:
        with self.lock:
            self.begin_stats(attack or self.attack)
            stats = self.stats[attack or self.attack]
            stats.requests += requests
            stats.labels[label] += requests

    def death(self) -> None:
        with self.lock:
            self.current().deaths += 1

    def health(self, latency_ms: float, attack: str) -> None:
        with self.lock:
            self.begin_stats(attack)
            stats = self.stats[attack]
            stats.health_probes += 1
            stats.worst_health_ms = max(stats.worst_health_ms, latency_ms)

    def rss(self, server: str, size: int) -> None:
        with self.lock:
            stats = self.current()
            stats.peak_rss[server] = max(stats.peak_rss.get(server, 0), size)

    def note(self, text: str) -> None:
        """A finding worth reporting that is not a property violation (what the server did)."""
        with self.lock:
            self.notes.append(f"[{self.attack}] {text}")

    @staticmethod
    def signature(prop: str, attack: str, server: str, method: str, cause: str) -> str:
        return "|".join([prop, attack, server, method, cause])

    def violate(self, prop: str, server: str, method: str, detail: str, cause: str = "",
                case: dict | None = None, input_size: int = 0, attack: str | None = None,
                grouped: bool = False) -> Violation:
        """Records a violation; the first of a signature keeps its case, a smaller input replaces
        it. With `grouped`, every server and method share the signature of `cause`."""
        attack = attack or self.attack
        signature = self.signature(prop, attack, "*" if grouped else server, "*" if grouped else method, cause)
        with self.lock:
            known = self.violations.get(signature)
            if known is not None:
                known.count += 1
                known.seen_on.add(server)
                if case is not None and (known.case is None or input_size < known.input_size):
                    known.case, known.detail, known.input_size = case, detail, input_size
                    known.server, known.method = server, method
                return known
            violation = Violation(prop, attack, server, method, detail, signature, case, 1, input_size, {server})
            self.violations[signature] = violation
        return violation

    def failed(self) -> bool:
        return bool(self.violations)

    # -- output -----------------------------------------------------------------------------

    def table(self) -> str:
        labels = sorted({label for stats in self.stats.values() for label in stats.labels})
        lines = []
        header = f"{'attack':<12} {'requests':>9} {'deaths':>6} {'worst health ms':>15} {'time s':>7}  statuses"
        lines.append(header)
        lines.append("-" * len(header))
        for attack in self.order:
            stats = self.stats[attack]
            statuses = ", ".join(f"{label} {stats.labels[label]}" for label in labels if stats.labels[label])
            worst = f"{stats.worst_health_ms:.0f}" if stats.health_probes else "-"
            lines.append(f"{attack:<12} {stats.requests:>9} {stats.deaths:>6} {worst:>15} {stats.seconds:>7.0f}  {statuses}")
        lines.append("")
        lines.append("peak RSS (MiB) " + " ".join(f"{name:>22}" for name in SERVERS))
        for attack in self.order:
            stats = self.stats[attack]
            lines.append(f"{attack:<15}" + " ".join(
                f"{stats.peak_rss[name] / MIB:>22.0f}" if name in stats.peak_rss else f"{'-':>22}" for name in SERVERS))
        return "\n".join(lines)

    def violation_report(self) -> str:
        if not self.violations:
            return "every property held"
        lines = [f"{len(self.violations)} property violation(s):"]
        for violation in sorted(self.violations.values(), key=lambda v: (v.prop, v.attack, v.server, v.method)):
            times = f" (x{violation.count})" if violation.count > 1 else ""
            others = sorted(violation.seen_on - {violation.server})
            also = f" (also on {', '.join(others)})" if others else ""
            lines.append(f"- FAIL {violation.prop} [{violation.attack}] {violation.server} {violation.method}{times}{also}: "
                         f"{violation.detail}")
            if violation.case and violation.case.get("file"):
                lines.append(f"    regression case: {violation.case['file']}")
        return "\n".join(lines)
