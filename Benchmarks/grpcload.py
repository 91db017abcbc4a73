"""Shared pieces of the benchmark scripts: generated Python stubs, starting pinned servers,
framing gRPC requests, and running h2load with per-request latencies.

h2load counts any HTTP 200 as a success even when the gRPC status is an error, so every script
checks the answer of one real call before loading a server.
"""
import argparse
import collections
import os
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVER_CPU = "0"
LOAD_CPU = "1"


def load_arguments(parser=None):
    """The options of every load script, `--seconds` a row and `--bin-dir`, after the script's own
    (added to `parser` beforehand), parsed."""
    parser = parser or argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--bin-dir", help="use release executables already built there")
    return parser.parse_args()


def require_tools():
    missing = [tool for tool in ("h2load", "taskset") if shutil.which(tool) is None]
    if missing:
        sys.exit(f"missing {', '.join(missing)}: apt-get install nghttp2-client util-linux")
    try:
        import grpc  # noqa: F401
        import grpc_tools  # noqa: F401
    except ImportError:
        sys.exit("missing Python gRPC: pip install grpcio grpcio-tools")


def python_stubs(*protos):
    """Generates Python modules for the given privacy/*.proto files into a temp folder on sys.path."""
    import grpc_tools
    from grpc_tools import protoc

    out = tempfile.mkdtemp(prefix="privacy-bench-py-")
    include = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    files = ["privacy/common/v1/common.proto", *protos]
    code = protoc.main(["protoc", f"-I{ROOT}/Protocol", f"-I{include}", f"--python_out={out}", f"--grpc_python_out={out}", *files])
    if code != 0:
        sys.exit("protoc failed")
    sys.path.insert(0, out)
    return out


def build_release(*products, bin_dir=None):
    """Builds the products (release) and returns where they are; with `bin_dir`, uses built ones there."""
    if bin_dir:
        return bin_dir
    for product in products:
        subprocess.run(["swift", "build", "-c", "release", "--product", product], cwd=ROOT, check=True)
    path = subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout.strip()
    return path


def rss_mib(pid, field="VmRSS"):
    """The resident memory of process `pid` in MiB: now, or with field "VmHWM" its peak so far."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def idle_memory(pid):
    """(resident, anonymous) memory of process `pid` in MiB: what is resident beyond the anonymous
    part is file pages mapped in, mostly the executable's and shared libraries' code."""
    return rss_mib(pid), rss_mib(pid, "RssAnon")


class Server:
    """A server process pinned to the server core that prints `listening on HOST:PORT` first."""

    def __init__(self, command, env=None, cpu=SERVER_CPU):
        full_env = dict(os.environ)
        # Plaintext unless the benchmark configures TLS itself (services refuse it otherwise).
        full_env["ALLOW_INSECURE_DEV"] = "1"
        full_env.update(env or {})
        self.process = subprocess.Popen(["taskset", "-c", cpu, *command], env=full_env, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, text=True)
        line = self.process.stdout.readline().strip()
        if not line.startswith("listening on "):
            self.stop()
            sys.exit(f"{command[0]} did not start: {line!r}")
        self.address = line[len("listening on "):]

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()


class Nghttpd:
    """nghttp2's C server over h2c, pinned to the server core, serving one 23-byte file at `path`:
    what HTTP/2 itself costs on this machine, the ceiling every server here sits under."""

    path = "file"

    def __init__(self, cpu=SERVER_CPU):
        if shutil.which("nghttpd") is None:
            sys.exit("missing nghttpd: apt-get install nghttp2-server")
        self.root = tempfile.mkdtemp(prefix="privacy-bench-nghttpd-")
        with open(os.path.join(self.root, self.path), "w") as file:
            file.write("privacy suite benchmark")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.address = f"127.0.0.1:{port}"
        self.process = subprocess.Popen(["taskset", "-c", cpu, "nghttpd", "--no-tls", "-a", "127.0.0.1", "-d", self.root, str(port)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        sys.exit("nghttpd did not start")

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)


def frame(message):
    """A gRPC length-prefixed message: no compression, 4-byte big-endian length, bytes."""
    payload = message.SerializeToString()
    return b"\x00" + struct.pack(">I", len(payload)) + payload


H2Load = collections.namedtuple("H2Load", "qps p50 p99 failed succeeded")


def h2load(address, method, payload, headers, clients, streams, seconds, scheme="http", grpc=True, http1=False):
    """Loads `method` with one request body for `seconds`; returns an H2Load (QPS, p50 and p99 in ms,
    failed and succeeded requests of the measured window: h2load does not count its warm-up calls).
    With scheme "https" h2load speaks TLS (ALPN h2, no certificate check, no client certificate).
    With grpc False no gRPC headers are added (a plain HTTP POST); with http1 it speaks HTTP/1.1,
    `streams` then being requests pipelined on each connection."""
    with tempfile.TemporaryDirectory() as scratch:
        body = os.path.join(scratch, "frame")
        log = os.path.join(scratch, "log")
        with open(body, "wb") as out:
            out.write(payload)
        command = ["taskset", "-c", LOAD_CPU, "h2load", "-t1", f"-c{clients}", f"-m{streams}", "-D", str(seconds),
                   "--warm-up-time=2", "-d", body, f"--log-file={log}"]
        if grpc:
            command += ["-H", "content-type: application/grpc", "-H", "te: trailers"]
        if http1:
            command.append("--h1")
        for key, value in headers.items():
            command += ["-H", f"{key}: {value}"]
        command.append(f"{scheme}://{address}/{method}")
        result = subprocess.run(command, capture_output=True, text=True)
        failed = succeeded = 0
        qps = 0.0
        for line in result.stdout.splitlines():
            if line.startswith("finished in"):  # "finished in 10.00s, 12345.60 req/s, 1.23MB/s"
                qps = float(line.split(",")[1].split()[0])
            if line.startswith("requests:"):
                counts = line.split(",")  # "requests: N total, N started, N done, N succeeded, N failed, ..."
                succeeded, failed = int(counts[3].split()[0]), int(counts[4].split()[0])
        latencies = []
        with open(log) as entries:
            for entry in entries:
                fields = entry.split("\t")
                if len(fields) >= 3 and fields[1] == "200":
                    latencies.append(int(fields[2]) / 1000.0)
        if not latencies:
            sys.exit(f"h2load produced no successful requests:\n{result.stdout}\n{result.stderr}")
        latencies.sort()
        p50 = statistics.median(latencies)
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        return H2Load(qps, p50, p99, failed, succeeded)


def print_table(title, rows):
    """rows: (name, qps, p50, p99)"""
    print(f"\n{title}")
    print(f"{'server':40} {'QPS':>9} {'p50 ms':>8} {'p99 ms':>8}")
    for name, qps, p50, p99 in rows:
        print(f"{name:40} {qps:9.0f} {p50:8.3f} {p99:8.3f}")


def wait_for_port_free():
    time.sleep(0.5)
