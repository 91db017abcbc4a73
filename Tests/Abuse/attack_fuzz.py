"""fuzz: a wire fuzzer over every RPC of every server and of the gateway.

Each request is a random valid message built from the method's descriptor, optionally mutated at
the byte level (bit flips, truncation, extension, overlong varints, pure random bytes), inside
gRPC framing that is sometimes wrong on purpose (length prefix longer or shorter than the bytes, a
cut prefix, the compressed flag without an encoding, zero or two messages on a unary call).
Backends get the internal token and an identity; the gateway gets the API key of a role allowed
to call the method. Several connections per server keep many streams in flight.

When a server dies, the requests it was handling are replayed one by one against the restarted
server until one kills it again; that request is then shrunk field by field, saved as a
regression case, and its method is left out for the rest of the run (each crash costs seconds).

The hash chains are verified every few seconds. When one breaks, the entry where it breaks names
the x-request-id that wrote it; that request is replayed alone on fresh databases and, if it
breaks the chain again, shrunk the same way and saved.
"""
from __future__ import annotations

import collections
import selectors
import time

import chains
import fixtures
import h2client
import msggen
import wire
from calls import CallSpec
from cluster import GATEWAY, SERVERS
from protos import health_methods

NAME = "fuzz"
SHARE = 0.34
CI_REQUESTS = 20_000
LONG_REQUESTS = 1_000_000
CONNECTIONS = {"gateway": 3}
DEFAULT_CONNECTIONS = 2
DEPTH = {"gateway": 16}
DEFAULT_DEPTH = 24
STREAM_WINDOW = 1.0        # server-streaming calls are cancelled after this long (they never end)
# Every fuzzed call carries a deadline, as stock clients do (the deadline attack covers calls
# without one); a call must have ended ANSWER_GRACE after it.
DEADLINES = ["5S", "5000m", "5000000u"]
ANSWER_GRACE = 3.0
# Servers close a connection whose client reset 200 streams within 30 s (rapid-reset protection),
# and the fuzzer resets every streaming call and every call left unanswered: a connection is
# retired once it has sent this many resets, so the protection never fires on the fuzzer.
RESET_BUDGET = 120
CHAIN_CHECK_SECONDS = 2.0
REMEMBERED_BYTES = 150 * 1024 * 1024   # requests kept by x-request-id, to name a chain's breaker
EXPLAIN_RESERVE = 25.0   # seconds kept at the end of the share to replay and shrink chain breakers
HOLD = 1.5                 # calls that ended without a status wait this long for a death to explain them
MAX_SUSPECTS = 80

FRAMINGS = ["one", "prefix-longer", "prefix-shorter", "cut-prefix", "compressed", "zero-messages", "two-messages"]
FRAMING_WEIGHTS = [62, 7, 7, 4, 7, 4, 7]


def frame_body(message: bytes, second: bytes, rng, framing: str | None = None) -> tuple[bytes, str]:
    """The DATA payload for `message` under a framing, and the framing's name."""
    framing = framing or rng.choices(FRAMINGS, FRAMING_WEIGHTS)[0]
    if framing == "prefix-longer":
        return wire.frame(message, declared_length=len(message) + rng.choice([1, 7, 1000, 65536, 4_000_000])), framing
    if framing == "prefix-shorter" and message:
        return wire.frame(message, declared_length=rng.randrange(len(message))), framing
    if framing == "cut-prefix":
        return wire.frame(message)[:rng.randint(1, 4)], framing
    if framing == "compressed":
        return wire.frame(message, compressed=True), framing
    if framing == "zero-messages":
        return b"", framing
    if framing == "two-messages":
        return wire.frame(message) + wire.frame(second), framing
    return wire.frame(message), "one"


class Fuzzer:
    def __init__(self, ctx, deadline: float, target: int, roles: dict[str, str]):
        self.ctx = ctx
        self.deadline = deadline
        self.target = target
        self.rng = ctx.rng(NAME)
        self.generator = msggen.MessageGenerator(self.rng)
        self.quarantined: set[str] = set()
        self.sent = 0
        self.recent: collections.deque = collections.deque(maxlen=2000)   # (start time, spec)
        self.finished: list = []
        self.held: list = []
        self.connections: dict[str, list] = {name: [] for name in SERVERS}
        self.abandoned: set[int] = set()
        self.closed_connections: collections.Counter = collections.Counter()
        self.by_request_id: collections.OrderedDict = collections.OrderedDict()
        self.remembered = 0
        self.watched = list(chains.ALL)          # chains not yet seen broken
        self.chain_breaks: list = []    # (Broken, entry where it breaks, the request that wrote it)
        self.last_chain_check = time.monotonic()
        self.last_death_check = time.monotonic()
        self.shrink_budget = max(20.0, (deadline - time.monotonic()) * 0.25)
        self.targets = {}
        for server in SERVERS:
            methods = [(m, roles.get(m.path, "dpo") if server == GATEWAY else None) for m in ctx.protocol.served_by(server)]
            methods += [(m, None) for m in health_methods()]
            self.targets[server] = methods

    # -- inputs -----------------------------------------------------------------------------

    def next_spec(self, server: str) -> tuple[CallSpec, bool] | None:
        choices = [(method, role) for method, role in self.targets[server] if method.path not in self.quarantined]
        if not choices:
            return None
        method, role = self.rng.choice(choices)
        message = self.generator.message(method.input_type).SerializeToString()
        mutated, mutation = msggen.mutate(message, self.rng)
        second = self.generator.message(method.input_type, budget=500).SerializeToString()
        body, framing = frame_body(mutated, second, self.rng)
        if method.path.startswith("/grpc.health"):
            credential = "none"
        elif server == GATEWAY:
            credential = f"role:{role}"
        else:
            credential = "internal"
        timeout = self.rng.choice(DEADLINES)
        spec = CallSpec(server, method.path, body, credential, timeout, note=f"message {mutation}, framing {framing}",
                        kind=framing)
        if credential == "internal":
            spec.request_id = f"fuzz-{self.ctx.seed}-{self.sent}"
            self._remember(spec)
        return spec, method.server_streaming

    def _remember(self, spec: CallSpec, request_id: str = "") -> None:
        """Keeps `spec` under the x-request-id a chain entry will record: the one it sent to a
        backend, or the gateway's call id the gateway answered with."""
        self.by_request_id[request_id or spec.request_id] = spec
        self.remembered += len(spec.body)
        while self.remembered > REMEMBERED_BYTES:
            _, old = self.by_request_id.popitem(last=False)
            self.remembered -= len(old.body)

    # -- driving ----------------------------------------------------------------------------

    def run(self) -> None:
        selector = selectors.DefaultSelector()
        last_expire = 0.0
        while time.monotonic() < self.deadline - EXPLAIN_RESERVE and self.sent < self.target:
            self._fill(selector)
            for key, _ in selector.select(0.05):
                key.data.on_readable()
            now = time.monotonic()
            for conns in self.connections.values():
                for conn in conns:
                    if conn.wants_write:
                        conn.flush()
            if now - last_expire > 0.2:
                last_expire = now
                self._expire(now)
            self._process_finished(now)
            if now - self.last_death_check > 0.25:
                self._handle_deaths()
            if now - self.last_chain_check > CHAIN_CHECK_SECONDS:
                self._check_chains()
        for conns in self.connections.values():
            for conn in conns:
                conn.close()
        self._process_finished(time.monotonic(), final=True)
        selector.close()
        self.ctx.wait_recovered()
        self._check_chains()
        self._explain_chain_breaks()

    def _fill(self, selector) -> None:
        for server in SERVERS:
            conns = self.connections[server]
            for index in range(CONNECTIONS.get(server, DEFAULT_CONNECTIONS)):
                retired = index < len(conns) and conns[index].client_resets >= RESET_BUDGET
                if retired and conns[index].in_flight:
                    continue
                if index >= len(conns) or conns[index].closed or conns[index].goaway or retired:
                    if index < len(conns):
                        old = conns[index]
                        if not retired:
                            self.closed_connections[f"{server}: {old.close_reason or 'closed'}" + (
                                f", GOAWAY {wire.h2_error_name(old.goaway[0])}" if old.goaway else "")] += 1
                        try:
                            selector.unregister(conns[index])
                        except (KeyError, ValueError):
                            pass
                        if not conns[index].closed:
                            conns[index].close()
                    try:
                        conn = h2client.Connection(*self.ctx.cluster.address(server), connect_timeout=1.0)
                    except OSError:
                        continue
                    selector.register(conn, selectors.EVENT_READ, conn)
                    if index < len(conns):
                        conns[index] = conn
                    else:
                        conns.append(conn)
                conn = conns[index]
                while conn.in_flight < DEPTH.get(server, DEFAULT_DEPTH) and conn.can_open() and self.sent < self.target:
                    made = self.next_spec(server)
                    if made is None:
                        break
                    spec, streaming = made
                    self.sent += 1
                    self.recent.append((time.monotonic(), spec))
                    spec.start_on(conn, self.ctx.cluster,
                                  lambda outcome, spec=spec, streaming=streaming, conn=conn:
                                  self.finished.append((spec, outcome, streaming, conn)), tag=(spec, streaming))

    def _expire(self, now: float) -> None:
        """Cancels server-streaming calls after STREAM_WINDOW; gives up on unary calls that got no
        answer in time (they count as unanswered)."""
        for conns in self.connections.values():
            for conn in conns:
                for stream_id, request in list(conn.requests.items()):
                    spec, streaming = request.tag
                    age = now - request.outcome.started
                    if streaming and age > STREAM_WINDOW:
                        conn.cancel(stream_id)
                    elif age > 5.0 + ANSWER_GRACE:
                        conn.expire(request.outcome.started + 0.001)
                conn.flush()

    def _process_finished(self, now: float, final: bool = False) -> None:
        finished, self.finished = self.finished, []
        for spec, outcome, streaming, conn in finished:
            if outcome.request_id and spec.server == GATEWAY:
                self._remember(spec, outcome.request_id)
            if id(conn) in self.abandoned:
                self.ctx.ledger.count("SERVER_DIED")
            elif outcome.status is None and not outcome.cancelled:
                self.held.append((spec, outcome, streaming))
            else:
                self.ctx.record(spec, outcome, streaming)
        keep = []
        for spec, outcome, streaming in self.held:
            if not final and now - outcome.ended < HOLD:
                keep.append((spec, outcome, streaming))
                continue
            affected = self.ctx.affected(spec.server)
            explained = [d for d in self.ctx.watchdog.deaths_since(outcome.started - 2.0) if d["server"] in affected]
            if explained:
                self.ctx.ledger.count("SERVER_DIED")
            else:
                self.ctx.record(spec, outcome, streaming)
        self.held = keep

    # -- hash chains ------------------------------------------------------------------------

    def _check_chains(self) -> None:
        self.last_chain_check = time.monotonic()
        if not self.watched:
            return
        for broken in chains.verify(self.ctx, self.watched):
            if broken.sequence < 1:          # the verification call itself failed: try again later
                continue
            self.watched.remove(broken.chain)
            entry = chains.locate(self.ctx, broken)
            culprit = self.by_request_id.get(entry["request_id"]) if entry else None
            self.ctx.log(f"  {broken.describe()}" + (f"; entry: {entry['description']}" if entry else ""))
            self.chain_breaks.append((broken, entry, culprit))
        self.last_chain_check = time.monotonic()

    def _explain_chain_breaks(self) -> None:
        """Replays the request that wrote each broken entry alone on fresh databases, shrinks it
        while it still breaks the chain, and reports it (or what is known without it)."""
        for broken, entry, culprit in self.chain_breaks:
            where = f"; entry: {entry['description']}" if entry else ""
            if time.monotonic() > self.deadline:
                culprit = None       # no time left to replay it: report what is known
            server = chains.SERVER[broken.chain]
            if culprit is None:
                self.ctx.violate("chain-verifies", server, "-", f"{broken.describe()}{where} (written by a request "
                                 f"no longer remembered)", cause=broken.chain)
                continue
            still_breaks = lambda spec, chain=broken.chain: self._breaks(spec, chain)
            if not still_breaks(culprit):
                self.ctx.violate("chain-verifies", culprit.server, culprit.path,
                                 f"{broken.describe()}{where}; written by {self.describe(culprit)}, which does not "
                                 f"break the chain alone on fresh databases", cause=broken.chain)
                continue
            culprit = self._shrink(culprit, still_breaks, self.deadline)
            self.ctx.violate("chain-verifies", culprit.server, culprit.path,
                             f"{broken.chain} no longer verifies after this single request on fresh databases: "
                             f"{self.describe(culprit)} (in the run: {broken.describe()})", cause=broken.chain,
                             calls=[culprit], expect={"chains": [broken.chain]}, input_size=len(culprit.body))
        if self.chain_breaks:
            self.ctx.fresh_data()

    def _breaks(self, spec: CallSpec, chain: str) -> bool:
        self.ctx.fresh_data()
        spec.send(self.ctx.cluster, wait=5.0)
        return any(broken.chain == chain for broken in chains.verify(self.ctx, [chain]))

    # -- deaths -----------------------------------------------------------------------------

    def _handle_deaths(self) -> None:
        self.last_death_check = time.monotonic()
        for death in self.ctx.watchdog.deaths_since(0):
            if death.get("claimed"):
                continue
            death["claimed"] = True
            self._isolate(death)
        self.last_death_check = time.monotonic()

    def _isolate(self, death: dict) -> None:
        """Finds which recent request killed `death['server']` by replaying them one at a time."""
        dead = death["server"]
        self.ctx.log(f"  isolating the input that killed {dead}...")
        for server, conns in self.connections.items():
            if server == dead:
                for conn in conns:
                    self.abandoned.add(id(conn))
                    conn.close()
        self._process_finished(time.monotonic())
        suspects = [spec for started, spec in reversed(self.recent)
                    if dead in self.ctx.affected(spec.server) and started >= death["noticed"] - 5.0]
        unique, seen = [], set()
        for spec in suspects:
            key = (spec.server, spec.path, spec.body)
            if key not in seen:
                seen.add(key)
                unique.append(spec)
        self.ctx.wait_recovered()
        budget_end = time.monotonic() + min(60.0, max(5.0, self.shrink_budget))
        killer = None
        for spec in unique[:MAX_SUSPECTS]:
            if time.monotonic() > budget_end:
                break
            if self._kills(spec, dead):
                killer = spec
                break
        if killer is None:
            self.ctx.violate("process-alive", dead, "-",
                             f"none of the {len(unique)} requests in flight killed it again alone: "
                             f"{self.ctx.death_detail(death)}", cause="not-isolated", calls=unique[:20])
            return
        killer = self._shrink(killer, lambda spec: self._kills(spec, dead), budget_end + 30.0)
        self.quarantined.add(killer.path)
        self.ctx.claim_deaths(death["noticed"])
        self.ctx.violate("process-alive", killer.server, killer.path,
                         f"this single request: {self.describe(killer)}; {self.ctx.death_detail(death)}",
                         cause=f"kills {dead}", calls=[killer], input_size=len(killer.body))
        self.ctx.log(f"  {killer.path} quarantined for the rest of the fuzz run")
        self.shrink_budget -= time.monotonic() - death["noticed"]

    def _kills(self, spec: CallSpec, dead: str) -> bool:
        streaming = spec.path.endswith("Watch") or self.ctx.protocol.method(spec.path).server_streaming
        started = time.monotonic()
        spec.send(self.ctx.cluster, wait=1.0 if streaming else 4.0)
        broken = dead in self.ctx.broken_servers([dead], settle=0.5)
        if broken:
            self.ctx.ledger.count("SERVER_DIED")
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not self.ctx.watchdog.deaths_since(started):
                time.sleep(0.05)
            self.ctx.claim_deaths(started)
            self.ctx.wait_recovered()
        return broken

    def _shrink(self, spec: CallSpec, still_fails, budget_end: float) -> CallSpec:
        """Clears the message's fields one by one, then halves its strings and bytes, while
        `still_fails(request)` holds."""
        method = self.ctx.protocol.method(spec.path)
        messages = wire.unframe(spec.body)
        if len(messages) != 1 or wire.frame(messages[0]) != spec.body:
            return spec
        try:
            message = method.input_type.FromString(messages[0])
        except Exception:
            return spec

        def attempt(smaller) -> bool:
            nonlocal message, spec
            if time.monotonic() > budget_end:
                return False
            candidate = CallSpec(spec.server, spec.path, wire.frame(smaller.SerializeToString()), spec.credential,
                                 spec.timeout, spec.headers, note="shrunk", kind=spec.kind, request_id=spec.request_id)
            if still_fails(candidate):
                message, spec = smaller, candidate
                return True
            return False

        for field, _ in list(message.ListFields()):
            smaller = method.input_type()
            smaller.CopyFrom(message)
            smaller.ClearField(field.name)
            attempt(smaller)
        for field, value in list(message.ListFields()):
            if field.type not in (field.TYPE_STRING, field.TYPE_BYTES) or field.is_repeated:
                continue
            while len(value) > 1:
                for part in (value[:len(value) // 2], value[len(value) // 2:]):
                    smaller = method.input_type()
                    smaller.CopyFrom(message)
                    setattr(smaller, field.name, part)
                    if attempt(smaller):
                        value = part
                        break
                else:
                    break
        return spec

    def describe(self, spec: CallSpec) -> str:
        method = self.ctx.protocol.method(spec.path)
        messages = wire.unframe(spec.body)
        text = spec.brief(80)
        if len(messages) == 1:
            try:
                decoded = method.input_type.FromString(messages[0])
                fields = str(decoded).replace("\n", " ")
                text += f"; message {{{fields[:300]}}}"
            except Exception:
                pass
        return text


def run(ctx, deadline: float) -> None:
    roles = fixtures.gateway_roles(ctx)
    fuzzer = Fuzzer(ctx, deadline, LONG_REQUESTS if ctx.long else CI_REQUESTS, roles)
    total = sum(len(methods) for methods in fuzzer.targets.values())
    ctx.log(f"  {total} endpoints ({', '.join(f'{s} {len(m)}' for s, m in fuzzer.targets.items())})")
    already = [broken.chain for broken in chains.verify(ctx)]
    if already:
        ctx.ledger.note(f"fuzz: {', '.join(already)} already broken before fuzzing: not watched")
    fuzzer.watched = [chain for chain in chains.ALL if chain not in already]
    fuzzer.run()
    ctx.log(f"  {fuzzer.sent} requests sent" + (f"; quarantined after a death: {sorted(fuzzer.quarantined)}"
                                                 if fuzzer.quarantined else ""))
    for reason, count in sorted(fuzzer.closed_connections.items()):
        ctx.log(f"  connections ended {count}x: {reason}")
    if not ctx.long and fuzzer.sent < CI_REQUESTS:
        ctx.ledger.note(f"only {fuzzer.sent} fuzz requests fit in the time share (aim: {CI_REQUESTS})")
