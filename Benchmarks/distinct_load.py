"""A load client that sends distinct requests: where h2load re-sends one body (fine for reads,
wrong for writes: every PutRecord would rewrite one subject and change nothing), this one builds
request `i` from a template for every call, so a write benchmark writes what it claims.

Worker processes (grpcio's asyncio API, one channel each, `concurrency` calls in flight per
worker) pinned to the load core; latencies and per-status counts are merged at the end.

    result = distinct_load.run(address, "/privacy.vault.v1.VaultService/PutRecord", make_request,
                               metadata, seconds=10, processes=4, concurrency=16)

`make_request(i)` returns the serialized request for call i (i counts from 0 over all workers,
without gaps or repeats); it must be a module-level function, since workers are separate processes.
"""
import asyncio
import multiprocessing
import os
import statistics
import time
from dataclasses import dataclass, field

import grpcload


@dataclass
class LoadResult:
    seconds: float
    statuses: dict = field(default_factory=dict)   # status name -> count
    latencies_ms: list = field(default_factory=list)  # of OK calls
    highest_index: int = -1                        # the largest i a call was sent with
    acknowledged: int = 0                          # OK calls at any time, warm-up included: the writes to check

    @property
    def ok(self) -> int:
        return self.statuses.get("OK", 0)

    @property
    def qps(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] if ordered else float("nan")

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else float("nan")

    @property
    def p99(self) -> float:
        return self.percentile(0.99)

    def describe_statuses(self) -> str:
        return ", ".join(f"{name} {count:,}" for name, count in sorted(self.statuses.items()))


def run(address, method, make_request, metadata, seconds, processes=4, concurrency=16, warm_up=1.0, cpu=grpcload.LOAD_CPU,
        limit=None):
    """Loads `method` for `seconds` after `warm_up` seconds, or until request `limit` - 1 was
    sent. Figures count calls made within the measured window; `acknowledged` counts every OK
    call, the number of writes to look for."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    start_at = time.time() + 1.0  # every worker starts together, after its channel is up
    workers = [
        context.Process(target=_worker, args=(index, processes, address, method, make_request, metadata, start_at,
                                              warm_up, seconds, concurrency, cpu, limit, results))
        for index in range(processes)
    ]
    for worker in workers:
        worker.start()
    merged = LoadResult(seconds=seconds)
    for _ in workers:
        statuses, latencies, highest, acknowledged = results.get()
        merged.acknowledged += acknowledged
        for name, count in statuses.items():
            merged.statuses[name] = merged.statuses.get(name, 0) + count
        merged.latencies_ms += latencies
        merged.highest_index = max(merged.highest_index, highest)
    for worker in workers:
        worker.join()
    return merged


def _worker(index, processes, address, method, make_request, metadata, start_at, warm_up, seconds, concurrency, cpu, limit,
            results):
    os.sched_setaffinity(0, {int(cpu)})
    results.put(asyncio.run(_load(index, processes, address, method, make_request, metadata, start_at, warm_up,
                                  seconds, concurrency, limit)))


async def _load(index, processes, address, method, make_request, metadata, start_at, warm_up, seconds, concurrency, limit):
    import grpc

    statuses: dict = {}
    latencies: list = []
    next_call = [0]
    highest = -1
    acknowledged = 0
    async with grpc.aio.insecure_channel(address) as channel:
        call = channel.unary_unary(method)  # bytes in, bytes out: requests are built serialized
        await channel.channel_ready()
        await asyncio.sleep(max(0.0, start_at - time.time()))
        measure_from = time.monotonic() + warm_up
        stop_at = measure_from + seconds

        async def caller():
            nonlocal highest, acknowledged
            while time.monotonic() < stop_at:
                i = index + processes * next_call[0]  # distinct over all workers
                if limit is not None and i >= limit:
                    break
                next_call[0] += 1
                highest = max(highest, i)
                request = make_request(i)
                began = time.monotonic()
                try:
                    await call(request, metadata=metadata, timeout=30)
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
    return statuses, latencies, highest, acknowledged
