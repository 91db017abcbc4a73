"""Watches the servers while attacks run: health latency, deaths and resident memory.

Health is probed from a separate process (one thread per server, a Check every ~200 ms, each on a
new TCP connection) so that neither the attack's CPU use nor its open files bias the measurement,
and so a server that stops accepting connections is noticed, not hidden by a pooled connection.

Deaths are found by polling the child processes, and by spotting Swift's crash handler
(`swift-backtrace`, a child of the trapped process) which holds a dead server for seconds while it
writes the backtrace. A dead server is restarted on its port and database so the run continues.
Health failures of a server that is down on purpose (kill -9 loop) or already counted as dead are
excused; every other probe slower than 1 s, or not SERVING, is a violation.
"""
from __future__ import annotations

import multiprocessing
import os
import queue
import threading
import time

import cluster as cluster_module
import h2client
import wire

PROBE_INTERVAL = 0.2
HEALTH_LIMIT = 1.0
PROBE_WAIT = 3.0          # how long a probe waits, so slow answers are measured, not just "late"
RSS_LIMIT = 1024 * 1024 * 1024
GRACE_BEFORE_DEATH = 2.0  # health failures this long before a death was noticed are the death's
SETTLE = PROBE_WAIT + 0.5
LINGER_LIMIT = 60.0       # a trapped server still alive after this long is killed  # a failed probe is judged once a death it belongs to would be known


def _probe_loop(name: str, host: str, port: int, results, stop, parent: int) -> None:
    while not stop.is_set() and os.getppid() == parent:     # ends with the suite, even a killed one
        started = time.monotonic()
        outcome = h2client.call(host, port, wire.HEALTH_CHECK, wire.frame(wire.EMPTY_MESSAGE), wait=PROBE_WAIT)
        serving = outcome.status == wire.OK and outcome.messages[:1] == [b"\x08\x01"]
        label = "SERVING" if serving else outcome.describe()
        results.put((name, started, outcome.latency, serving, label))
        stop.wait(max(0.0, started + PROBE_INTERVAL - time.monotonic()))


def _prober_main(addresses: dict, results, stop, parent: int) -> None:
    threads = [threading.Thread(target=_probe_loop, args=(name, host, port, results, stop, parent), daemon=True)
               for name, (host, port) in addresses.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


class Watchdog:
    """Runs the prober process and a thread that polls processes, memory and probe results."""

    def __init__(self, cluster, ledger, log=print):
        self.cluster = cluster
        self.ledger = ledger
        self.log = log
        context = multiprocessing.get_context("spawn")
        self.results = context.Queue()
        self.stop_prober = context.Event()
        addresses = {name: cluster.address(name) for name in cluster.processes}
        self.prober = context.Process(target=_prober_main, args=(addresses, self.results, self.stop_prober, os.getpid()),
                                      daemon=True)
        self.lock = threading.RLock()
        self.outages: dict[str, list[list[float | None]]] = {name: [] for name in addresses}
        self.deaths: list[dict] = []
        self.pending: list[tuple] = []
        self.linger_measured = False
        self.lingering: dict[str, float] = {}
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.rss_warned: set[tuple[str, str]] = set()   # (server, attack) already reported

    def start(self) -> None:
        self.prober.start()
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=10)
        self.stop_prober.set()
        self.prober.join(timeout=5)
        if self.prober.is_alive():
            self.prober.kill()

    # -- planned outages --------------------------------------------------------------------

    def planned_outage(self, name: str):
        """`with watchdog.planned_outage(name):` around a deliberate kill and restart."""
        return self.planned_outages([name])

    def planned_outages(self, names: list[str]):
        """`with watchdog.planned_outages(names):` around deliberate kills and restarts: health
        failures of these servers meanwhile are not violations."""
        watchdog = self

        class Outage:
            def __enter__(self):
                with watchdog.lock:
                    for name in names:
                        watchdog.outages[name].append([time.monotonic(), None])

            def __exit__(self, *exc):
                for name in names:
                    watchdog.wait_serving(name)
                with watchdog.lock:
                    for name in names:
                        watchdog.outages[name][-1][1] = time.monotonic()
        return Outage()

    def wait_serving(self, name: str, timeout: float = 15.0) -> bool:
        host, port = self.cluster.address(name)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            outcome = h2client.call(host, port, wire.HEALTH_CHECK, wire.frame(wire.EMPTY_MESSAGE), wait=1.0)
            if outcome.status == wire.OK:
                return True
            time.sleep(0.1)
        return False

    def _excused(self, name: str, started: float, latency: float) -> bool:
        end = started + latency
        with self.lock:
            for begin, finish in self.outages.get(name, []):
                if begin - GRACE_BEFORE_DEATH <= end and (finish is None or started <= finish):
                    return True
        return False

    # -- deaths -----------------------------------------------------------------------------

    def deaths_since(self, moment: float) -> list[dict]:
        with self.lock:
            return [death for death in self.deaths if death["noticed"] >= moment]

    def _check_processes(self) -> None:
        # Under the cluster lock, so a server the suite is killing or restarting right now is
        # never mistaken for a dead one.
        deaths = []
        with self.cluster.lock:
            running = {name: process for name, process in self.cluster.processes.items()
                       if name not in self.cluster.expected_down}
            trapped = cluster_module.crash_reporters({process.pid: name for name, process in running.items()})
            for name, process in running.items():
                code = process.exit_code()
                if name in self.lingering:
                    if code is None and time.monotonic() - self.lingering[name] > LINGER_LIMIT:
                        os.kill(process.pid, 9)
                        process.popen.wait()
                        code = process.exit_code()
                    if code is not None:
                        seconds = time.monotonic() - self.lingering.pop(name)
                        self.ledger.violate(
                            "crash-exits-promptly", name, "-",
                            f"after trapping, the process stayed alive {seconds:.1f} s (Swift's crash handler "
                            f"writing a backtrace) answering nothing, before it exited with {code}", attack="any")
                        deaths.append((name, process, None))
                    continue
                if code is None and name not in trapped:
                    continue
                deaths.append((name, process, code if code is not None else "trapped"))
        for name, process, how in deaths:
            if how is None:          # a lingering crash that has ended now
                self._restart(name, process)
                continue
            now = time.monotonic()
            how = f"exit code {how}" if how != "trapped" else "trapped (swift-backtrace is writing its backtrace)"
            death = {"server": name, "noticed": now, "how": how, "attack": self.ledger.attack, "process": process}
            with self.lock:
                self.deaths.append(death)
                self.outages[name].append([now, None])
            self.ledger.death()
            self.log(f"  !! {name} (pid {process.pid}) died during {self.ledger.attack}: {how}")
            if "trapped" in how and not self.linger_measured:
                # Measure once per run how long the crash handler keeps a dead server around.
                self.linger_measured = True
                self.lingering[name] = now
                continue
            self._restart(name, process)

    def _restart(self, name: str, process) -> None:
        """Restarts a dead server, unless the suite has replaced it meanwhile."""
        with self.cluster.lock:
            if self.cluster.processes.get(name) is not process:
                return
            if process.exit_code() is None:
                self.cluster.kill(name)
        self.log(f"  !! {name} stderr tail:\n" + "\n".join("     " + line for line in process.stderr_tail(15).splitlines()))
        try:
            self.cluster.restart(name)
            self.wait_serving(name)
        except RuntimeError as error:
            self.log(f"  !! could not restart {name}: {error}")
        with self.lock:
            if self.outages[name] and self.outages[name][-1][1] is None:
                self.outages[name][-1][1] = time.monotonic()

    # -- the loop ---------------------------------------------------------------------------

    def _run(self) -> None:
        last_rss = 0.0
        while not self.stopping.is_set():
            try:
                self._check_processes()
                now = time.monotonic()
                if now - last_rss >= 0.2:
                    last_rss = now
                    self._sample_rss()
                self._drain_probes()
            except Exception as error:  # the watchdog must outlive any surprise
                self.log(f"  watchdog error: {error!r}")
            self.stopping.wait(0.1)
        self._drain_probes(final=True)

    def _sample_rss(self) -> None:
        with self.cluster.lock:
            processes = dict(self.cluster.processes)
        for name, process in processes.items():
            size = process.rss_bytes()
            if not size:
                continue
            self.ledger.rss(name, size)
            if size > RSS_LIMIT and (name, self.ledger.attack) not in self.rss_warned:
                self.rss_warned.add((name, self.ledger.attack))
                self.ledger.violate("rss-bounded", name, "-", f"resident memory {size / 2**20:.0f} MiB "
                                    f"exceeds {RSS_LIMIT / 2**20:.0f} MiB")

    def _drain_probes(self, final: bool = False) -> None:
        while True:
            try:
                name, started, latency, serving, label = self.results.get_nowait()
            except (queue.Empty, OSError, EOFError):
                break
            phase, since = self.ledger.phase, started - self.ledger.phase_started
            self.pending.append((name, started, latency, serving, label, self.ledger.attack, phase, since))
        now = time.monotonic()
        keep = []
        for item in self.pending:
            name, started, latency, serving, label, attack, phase, since = item
            if not final and now - (started + latency) < SETTLE:
                keep.append(item)
                continue
            if self._excused(name, started, latency):
                continue
            self.ledger.health(latency * 1000, attack)
            if not serving or latency > HEALTH_LIMIT:
                what = "answered late" if serving else "failed"
                during = f" during {phase} (sent {since:.1f} s into it)" if phase else ""
                self.ledger.violate("health-1s", name, wire.HEALTH_CHECK,
                                    f"health Check (new connection) {what}{during}: {label} after "
                                    f"{latency * 1000:.0f} ms", cause=phase, attack=attack)
        self.pending = keep

    def settle(self) -> None:
        """Waits until probes sent so far are judged (call at the end of an attack)."""
        time.sleep(SETTLE + PROBE_INTERVAL)
