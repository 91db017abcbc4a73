"""Load with distinct requests: where h2load re-sends one body (fine for reads, wrong for writes:
every PutRecord would rewrite one subject and change nothing), call `i` here sends request `i`,
built by the benchmark as `make_request(i)` (a subject and values of its own, spread over a
seeded data set however the benchmark needs).

The requests are built before the load starts and written to a file (each preceded by its
length, 4 bytes big-endian), so the load's core only sends. Two clients read that file:

- `python` (the default): `connections` processes on grpcio's asyncio API (gRPC's C core), one
  channel and `streams` calls in flight each.
- `swift`: `privacy-load`, this repository's load client on grpc-swift-2 and SwiftNIO,
  `connections` HTTP/2 connections with `streams` calls in flight on each, latencies in an
  HdrHistogram.

`load_clients.py` measures one against the other from the same core on the same server: the
Python client loads it harder (README, "Which load client"): the grpc-swift-2 stack is slower than
gRPC's C core on the client side as on the server side, so the benchmarks use the Python client.

Both are pinned to the load core, count statuses by their gRPC names and latencies of the OK calls
that began and ended inside the measured window, and count every OK answer (warm-up included) as
`acknowledged`, the number of writes a benchmark must then find.

    result = distinct_load.run(address, "/privacy.vault.v1.VaultService/PutRecord", make_request, metadata,
                               seconds=10, connections=4, streams=16)
"""
import asyncio
import json
import multiprocessing
import os
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

import grpcload

# Requests built per second of load: more than any server here answers on one core. A load that
# runs out of them before its window ends says so (`ran_out`) and no figure may be printed.
MAX_RATE = 50_000


@dataclass
class LoadResult:
    seconds: float
    statuses: dict = field(default_factory=dict)  # status name -> calls inside the window
    p50: float = float("nan")                     # ms, OK calls inside the window
    p99: float = float("nan")
    highest_index: int = -1                       # the largest i a call was sent with
    acknowledged: int = 0                         # OK calls at any time, warm-up included: the writes to check
    ran_out: bool = False                         # the requests ran out before the window ended

    @property
    def ok(self) -> int:
        return self.statuses.get("OK", 0)

    @property
    def qps(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def describe_statuses(self) -> str:
        described = ", ".join(f"{name} {count:,}" for name, count in sorted(self.statuses.items()))
        return described + (" (ran out of requests)" if self.ran_out else "")


def run(address, method, make_request, metadata, seconds, connections=1, streams=1, warm_up=1.0, limit=None, client="python",
        bin_path=None, cpu=grpcload.LOAD_CPU):
    """Loads `method` for `seconds` after `warm_up` seconds with requests `make_request(0)`,
    `make_request(1)`, ... (at most `limit` of them: the load may then end early, `ran_out`)."""
    count = int(MAX_RATE * (seconds + warm_up))
    if limit is not None:
        count = min(count, limit)
    with tempfile.NamedTemporaryFile(prefix="privacy-load-", suffix=".requests") as requests:
        write_requests(requests, make_request, count)
        requests.flush()
        if client == "swift":
            result = _run_swift(address, method, requests.name, metadata, seconds, connections, streams, warm_up, bin_path, cpu)
        else:
            result = _run_python(address, method, requests.name, metadata, seconds, connections, streams, warm_up, cpu)
    if result.ran_out and limit is None:
        sys.exit(f"{method}: more than {MAX_RATE:,} calls per second, the requests ran out; raise distinct_load.MAX_RATE")
    return result


def write_requests(file, make_request, count):
    parts = []
    for i in range(count):
        request = make_request(i)
        parts += (struct.pack(">I", len(request)), request)
    file.write(b"".join(parts))


def read_requests(path):
    with open(path, "rb") as file:
        data = file.read()
    requests, position = [], 0
    while position < len(data):
        length, = struct.unpack_from(">I", data, position)
        requests.append(data[position + 4:position + 4 + length])
        position += 4 + length
    return requests


def _run_swift(address, method, path, metadata, seconds, connections, streams, warm_up, bin_path, cpu):
    if bin_path is None:
        raise ValueError("the swift client needs bin_path, where privacy-load was built")
    command = ["taskset", "-c", str(cpu), os.path.join(bin_path, "privacy-load"), "--target", address, "--method", method,
               "--requests", path, "--connections", str(connections), "--streams", str(streams), "--warm-up", str(warm_up),
               "--seconds", str(seconds)]
    for key, value in metadata:
        command += ["--metadata", f"{key}={value}"]
    report = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
    latencies = report["latency_ms"]
    return LoadResult(seconds=report["seconds"], statuses=report["statuses"], p50=latencies.get("p50", float("nan")),
                      p99=latencies.get("p99", float("nan")), highest_index=report["highest_index"],
                      acknowledged=report["acknowledged"], ran_out=report["ran_out_of_requests"])


def _run_python(address, method, path, metadata, seconds, processes, concurrency, warm_up, cpu):
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    start_at = time.time() + 1.0  # every worker starts together, after its channel is up
    workers = [
        context.Process(target=_worker, args=(index, processes, address, method, path, metadata, start_at, warm_up, seconds,
                                              concurrency, cpu, results))
        for index in range(processes)
    ]
    for worker in workers:
        worker.start()
    merged = LoadResult(seconds=seconds)
    latencies = []
    for _ in workers:
        statuses, worker_latencies, highest, acknowledged, ran_out = results.get()
        merged.acknowledged += acknowledged
        for name, count in statuses.items():
            merged.statuses[name] = merged.statuses.get(name, 0) + count
        latencies += worker_latencies
        merged.highest_index = max(merged.highest_index, highest)
        merged.ran_out = merged.ran_out or ran_out
    for worker in workers:
        worker.join()
    if latencies:
        latencies.sort()
        merged.p50 = latencies[len(latencies) // 2]
        merged.p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return merged


def _worker(index, processes, address, method, path, metadata, start_at, warm_up, seconds, concurrency, cpu, results):
    os.sched_setaffinity(0, {int(cpu)})
    requests = read_requests(path)
    results.put(asyncio.run(_load(index, processes, address, method, requests, metadata, start_at, warm_up, seconds,
                                  concurrency)))


async def _load(index, processes, address, method, requests, metadata, start_at, warm_up, seconds, concurrency):
    import grpc

    statuses: dict = {}
    latencies: list = []
    next_call = [0]
    highest = -1
    acknowledged = 0
    ran_out = False
    async with grpc.aio.insecure_channel(address) as channel:
        call = channel.unary_unary(method)  # bytes in, bytes out: the requests are serialized already
        await channel.channel_ready()
        await asyncio.sleep(max(0.0, start_at - time.time()))
        measure_from = time.monotonic() + warm_up
        stop_at = measure_from + seconds

        async def caller():
            nonlocal highest, acknowledged, ran_out
            while time.monotonic() < stop_at:
                i = index + processes * next_call[0]  # distinct over all workers
                if i >= len(requests):
                    ran_out = True
                    break
                next_call[0] += 1
                highest = max(highest, i)
                began = time.monotonic()
                try:
                    await call(requests[i], metadata=metadata, timeout=30)
                    code = "OK"
                except grpc.aio.AioRpcError as error:
                    code = error.code().name
                ended = time.monotonic()
                acknowledged += code == "OK"
                if began >= measure_from and ended <= stop_at:
                    statuses[code] = statuses.get(code, 0) + 1
                    if code == "OK":
                        latencies.append((ended - began) * 1000)

        await asyncio.gather(*(caller() for _ in range(concurrency)))
    return statuses, latencies, highest, acknowledged, ran_out
