"""Starts the five real executables on loopback (as Tests/IntegrationTests/RunningSuite.swift does),
restarts them on the same port and database, and notices when one dies.

Each server keeps its port across restarts, so the gateway's backend addresses and every attack's
address stay valid through kill -9 loops and crashes. The ports are free ports chosen below the
kernel's ephemeral range rather than GRPC_PORT=0: a port from that range can be taken, while its
server is down, by the local end of one of the thousands of client connections the attacks open,
and the restart would then fail to bind. The server's `listening on HOST:PORT` line is still
read to know it is up.
"""
from __future__ import annotations

import base64
import ctypes
import hashlib
import os
import resource
import secrets
import signal
import socket
import subprocess
import tempfile
import threading
import time

BACKENDS = ["consent-service", "vault-service", "subject-rights-service", "blocklist-service"]
GATEWAY = "gateway"
SERVERS = BACKENDS + [GATEWAY]
ROLES = ["admin", "dpo", "support", "billing", "marketing", "service", "auditor", "delivery"]
GATEWAY_ADDRESS_VARIABLES = {
    "consent-service": "CONSENT_SERVICE_ADDR", "vault-service": "VAULT_SERVICE_ADDR",
    "subject-rights-service": "RIGHTS_SERVICE_ADDR", "blocklist-service": "BLOCKLIST_SERVICE_ADDR",
}
# The servers run with this soft open-files limit (the usual default), whatever the machine's, so
# the idle-connection attack means the same on every machine; the hard limit is left as it is,
# so a server may raise its own soft limit.
SERVER_NOFILE = 1024
IDLE_TIMEOUT_S = 10      # GRPC_IDLE_TIMEOUT_S of every server (default 300)


try:
    _LIBC = ctypes.CDLL("libc.so.6", use_errno=True)
except OSError:
    _LIBC = None
_PR_SET_PDEATHSIG = 1


def free_ports(count: int) -> list[int]:
    """`count` ports free on 127.0.0.1, below the ephemeral range (see the module comment)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as handle:
            ephemeral_low = int(handle.read().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral_low = 32768
    ports = []
    candidate = max(1025, ephemeral_low - 12000) + os.getpid() % 5000
    while len(ports) < count and candidate < ephemeral_low:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", candidate))
                ports.append(candidate)
            except OSError:
                pass
        candidate += 1
    if len(ports) < count:
        raise RuntimeError("no free ports below the ephemeral range")
    return ports


def api_key(role: str) -> str:
    """The credential of a role's key, `<id>.<secret>`."""
    return f"{role}-key.secret-{role}"


class Process:
    """One running executable; stdout and stderr go to files in the run's directory."""

    def __init__(self, name: str, popen: subprocess.Popen, stdout_path: str, stderr_path: str):
        self.name = name
        self.popen = popen
        self.pid = popen.pid
        self.stdout_path = stdout_path
        self.stderr_path = stderr_path
        self.started = time.monotonic()

    def exit_code(self) -> int | None:
        """None while running; 128 + signal when killed by a signal."""
        code = self.popen.poll()
        if code is None:
            return None
        return 128 - code if code < 0 else code

    def stderr_tail(self, lines: int = 30) -> str:
        try:
            with open(self.stderr_path, "rb") as handle:
                handle.seek(0, os.SEEK_END)
                size = handle.tell()
                handle.seek(max(0, size - 16384))
                text = handle.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def rss_bytes(self) -> int:
        try:
            with open(f"/proc/{self.pid}/status") as handle:
                for line in handle:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0

    def has_crash_reporter(self) -> bool:
        """True while Swift's crash handler is writing this process's backtrace."""
        return bool(crash_reporters({self.pid: self.name}))


def crash_reporters(pids: dict[int, str]) -> set[str]:
    """Names (the values of `pids`) of the processes that have a swift-backtrace child: Swift's
    crash handler, which holds a trapped process for seconds, answering nothing, while it writes
    the backtrace."""
    found = set()
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                stat = handle.read()
        except OSError:
            continue
        close = stat.rfind(")")
        parent = int(stat[close + 2:].split()[1])
        if parent in pids and "backtrace" in stat[stat.find("(") + 1:close]:
            found.add(pids[parent])
    return found


class Cluster:
    """The four backends and the gateway, with their secrets, keys file and databases."""

    def __init__(self, bin_dir: str, work_dir: str | None = None, log=print):
        self.bin_dir = os.path.abspath(bin_dir)
        self.dir = work_dir or tempfile.mkdtemp(prefix="privacy-abuse-")
        self.log = log
        self.internal_token = "abuse-" + secrets.token_hex(16)
        self.vault_key = base64.b64encode(bytes([7]) * 32).decode()
        self.pepper = base64.b64encode(bytes([9]) * 32).decode()
        self.keys_file = os.path.join(self.dir, "keys.yaml")
        with open(self.keys_file, "w") as handle:
            handle.write("keys:\n")
            for role in ROLES:
                digest = hashlib.sha256(f"secret-{role}".encode()).hexdigest()
                handle.write(f"  - {{id: {role}-key, role: {role}, actor: {role}@test, sha256: {digest}}}\n")
        self.ports: dict[str, int] = dict(zip(SERVERS, free_ports(len(SERVERS))))
        self.processes: dict[str, Process] = {}
        self.lock = threading.RLock()
        # Servers the suite is stopping or killing on purpose: their exit is not a death.
        self.expected_down: set[str] = set()
        self.restarts = {name: 0 for name in SERVERS}
        self.generation = 0        # bumped by fresh_data: each generation has its own databases
        self._sequence = 0

    # -- environment ------------------------------------------------------------------------

    def environment(self, name: str, port: int) -> dict[str, str]:
        env = {key: os.environ[key] for key in ("PATH", "HOME") if key in os.environ}
        env.update({
            "GRPC_HOST": "127.0.0.1", "GRPC_PORT": str(port),
            "DATABASE_URL": "sqlite://" + os.path.join(self.dir, f"{name}-{self.generation}.sqlite"),
            "INTERNAL_TOKEN": self.internal_token, "VAULT_MASTER_KEY": self.vault_key,
            "BLOCKLIST_PEPPER": self.pepper, "LOG_LEVEL": "warning",
            # Plaintext, so the attacks reach HTTP/2 itself; TLS is tested in the Swift suite.
            "ALLOW_INSECURE_DEV": "1",
            # Short, so the idle-connection attack sees handshaken idle connections closed in its time.
            "GRPC_IDLE_TIMEOUT_S": str(IDLE_TIMEOUT_S),
        })
        if name == GATEWAY:
            env["GATEWAY_API_KEYS_FILE"] = self.keys_file
            for backend, variable in GATEWAY_ADDRESS_VARIABLES.items():
                env[variable] = f"127.0.0.1:{self.ports[backend]}"
        return env

    def metadata(self, actor: str = "abuse@test", role: str = "dpo", request_id: str = "") -> list[tuple[str, str]]:
        """What a backend needs from a trusted caller: the internal token and an identity."""
        self._sequence += 1
        return [("x-internal-token", self.internal_token), ("x-privacy-actor", actor),
                ("x-privacy-role", role), ("x-request-id", request_id or f"abuse-{self._sequence}")]

    @staticmethod
    def gateway_metadata(role: str = "dpo") -> list[tuple[str, str]]:
        return [("authorization", f"Bearer {api_key(role)}")]

    def address(self, name: str) -> tuple[str, int]:
        return "127.0.0.1", self.ports[name]

    # -- lifecycle --------------------------------------------------------------------------

    def start_all(self) -> None:
        for name in SERVERS:
            self.start(name)

    def start(self, name: str, attempts: int = 40) -> Process:
        """Starts (or restarts) `name` on its port. Retries while the executable is missing or
        being rewritten by a concurrent build, or the old port is not free yet. Holds the lock:
        the watchdog never sees a half-started server."""
        with self.lock:
            return self._start(name, attempts)

    def _start(self, name: str, attempts: int) -> Process:
        last_error = ""
        for attempt in range(attempts):
            try:
                process = self._spawn(name)
            except OSError as error:      # ETXTBSY, ENOEXEC, ENOENT during a rebuild
                last_error = str(error)
                time.sleep(1.0)
                continue
            line = self._first_line(process, timeout=30.0)
            if line and line.startswith("listening on "):
                port = int(line.rsplit(":", 1)[1])
                with self.lock:
                    self.ports[name] = port
                    self.processes[name] = process
                    self.expected_down.discard(name)
                return process
            last_error = f"first stdout line {line!r}; stderr: {process.stderr_tail(8)}"
            if process.exit_code() is None:
                process.popen.kill()
                process.popen.wait()
            time.sleep(0.5 if attempt < 5 else 1.0)
        raise RuntimeError(f"{name} did not start: {last_error}")

    def _spawn(self, name: str) -> Process:
        executable = os.path.join(self.bin_dir, name)
        stamp = f"{name}-{len(os.listdir(self.dir))}-{time.monotonic_ns()}"
        stdout_path = os.path.join(self.dir, stamp + ".out")
        stderr_path = os.path.join(self.dir, stamp + ".err")
        port = self.ports.get(name, 0)

        def limit_files() -> None:
            _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(SERVER_NOFILE, hard), hard))
            # Die with the suite (even killed by a CI timeout) instead of lingering on the port.
            if _LIBC is not None:
                _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)

        with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
            popen = subprocess.Popen([executable], env=self.environment(name, port), stdin=subprocess.DEVNULL,
                                     stdout=out, stderr=err, preexec_fn=limit_files, start_new_session=True)
        return Process(name, popen, stdout_path, stderr_path)

    @staticmethod
    def _first_line(process: Process, timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with open(process.stdout_path, "rb") as handle:
                    text = handle.read().decode("utf-8", "replace")
            except OSError:
                text = ""
            if "\n" in text:
                return text.split("\n", 1)[0]
            if process.exit_code() is not None:
                return None
            time.sleep(0.02)
        return None

    def kill(self, name: str, sig: int = signal.SIGKILL) -> int | None:
        """Kills `name` on purpose and reaps it; its exit code."""
        with self.lock:
            self.expected_down.add(name)
            process = self.processes[name]
            try:
                os.kill(process.pid, sig)
            except ProcessLookupError:
                pass
            try:
                process.popen.wait(timeout=40)
            except subprocess.TimeoutExpired:
                process.popen.kill()
                process.popen.wait()
            return process.exit_code()

    def restart(self, name: str) -> Process:
        with self.lock:
            self.restarts[name] += 1
        return self.start(name)

    def fresh_data(self) -> None:
        """Restarts every server, on its port, with new empty databases (an attack whose verdict
        must not depend on what earlier attacks wrote)."""
        with self.lock:
            for name in SERVERS:
                self.kill(name)
            self.generation += 1
            for name in SERVERS:
                self.start(name)

    def dead(self) -> list[tuple[str, Process]]:
        """Servers that exited without the suite asking them to."""
        with self.lock:
            return [(name, process) for name, process in self.processes.items()
                    if name not in self.expected_down and process.exit_code() is not None]

    def stop_all(self) -> None:
        with self.lock:
            self.expected_down.update(self.processes)
            processes = list(self.processes.values())
        for process in processes:
            if process.exit_code() is None:
                try:
                    os.kill(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 10
        for process in processes:
            try:
                process.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.popen.kill()
                process.popen.wait()
