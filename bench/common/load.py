"""The load generator's side: where a round's calls go (`Target` for gRPC, `KafkaClient` for Kafka,
`Vault` for OpenBao) and a generic closed loop: `concurrency` workers each await one call after
another (`run_load`, asyncio), or threads each make one blocking call after another
(`run_threaded_load`).

Closed loop (a fixed number of calls in flight) rather than a fixed arrival rate, so that the
generator never queues more work than the server can take and throughput is what the server
sustains at that concurrency. Everything here runs in the generator process, which the run starts
once (spawned, its own interpreter) and hands picklable specs.
"""

from __future__ import annotations

import asyncio
import math
import os
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import hvac

from consentry_client.kafka import kafka_options

CALL_TIMEOUT_S = 10.0  # bounds every call, hence how long a round can overrun its window


@dataclass(frozen=True)
class Target:
    """Where a round sends its gRPC calls; `tls` is (ca, client cert, client key) or None for plaintext."""

    port: int
    tls: tuple[Path, Path, Path] | None

    def channel(self) -> grpc.aio.Channel:
        address = f"127.0.0.1:{self.port}"
        if self.tls is None:
            return grpc.aio.insecure_channel(address)
        ca, cert, key = (p.read_bytes() for p in self.tls)
        return grpc.aio.secure_channel(address, grpc.ssl_channel_credentials(ca, key, cert))


@dataclass(frozen=True)
class KafkaClient:
    """How a Kafka client of the load generator reaches a broker: over TLS with `tls` (CA, certificate,
    key), as every client of the platform does, or without (None) on a plaintext broker."""

    bootstrap_servers: str
    tls: tuple[Path, Path, Path] | None = None

    def options(self) -> dict[str, Any]:
        if self.tls is None:
            return {"bootstrap_servers": self.bootstrap_servers, "security_protocol": "PLAINTEXT"}
        ca, cert, key = self.tls
        return kafka_options(self.bootstrap_servers, ca=ca, cert=cert, key=key)


@dataclass(frozen=True)
class Vault:
    """An OpenBao endpoint and a token; `key_name`/`mount` name the transit key the keyvault wraps with."""

    address: str
    token: str
    key_name: str = "consentry-kek"
    mount: str = "transit"

    def client(self) -> hvac.Client:
        return hvac.Client(url=self.address, token=self.token, timeout=CALL_TIMEOUT_S)


class CallFailed(Exception):
    """A call answered, but not with what the scenario expects; `kind` names the failure."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


@dataclass
class LoadResult:
    count: int  # successful calls completed inside the measured window
    elapsed_s: float  # length of the measured window
    latencies_s: list[float]  # one per successful call in the window
    errors: Counter[str] = field(default_factory=Counter)
    started: int = 0  # every call started, warm-up included

    @property
    def rps(self) -> float:
        return self.count / self.elapsed_s if self.elapsed_s > 0 else 0.0


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation between closest ranks; NaN if empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def error_kind(exc: BaseException) -> str:
    if isinstance(exc, CallFailed):
        return exc.kind
    code = getattr(exc, "code", None)  # grpc.aio.AioRpcError
    if callable(code):
        return str(code())
    return type(exc).__name__


async def run_load(call: Callable[[], Awaitable[object]], *, concurrency: int, duration_s: float,
                   warmup_s: float = 0.0, max_calls: int | None = None) -> LoadResult:
    """Keeps `concurrency` calls in flight for `warmup_s + duration_s`, or until `max_calls` were started.

    Only calls that complete inside the measured window (after the warm-up) count, so connection set-up
    and cold caches stay out of the figures. `call` must bound its own duration (e.g. a gRPC deadline),
    so that the run ends at most one call timeout after the window closes.
    """
    clock = time.perf_counter
    start = clock()
    window_start = start + warmup_s
    window_end = window_start + duration_s
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    started = 0
    last_done = window_start

    async def worker() -> None:
        nonlocal started, last_done
        while clock() < window_end and (max_calls is None or started < max_calls):
            started += 1
            t0 = clock()
            try:
                await call()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - every failure is counted, none stops the run
                if clock() >= window_start:
                    errors[error_kind(exc)] += 1
                continue
            t1 = clock()
            if window_start <= t1 <= window_end:
                latencies.append(t1 - t0)
                last_done = max(last_done, t1)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    # A count-bounded run (max_calls) may finish before the window closes: measure up to its last call.
    end = window_end if clock() >= window_end else last_done
    return LoadResult(len(latencies), max(end - window_start, 1e-9), latencies, errors, started)


def run_threaded_load(make_call: Callable[[], Callable[[], object]], *, threads: int, duration_s: float,
                      warmup_s: float = 0.0, max_calls: int | None = None) -> LoadResult:
    """`run_load` for blocking clients: `threads` threads each make one call after another.

    `make_call` runs once in each thread and returns that thread's call, so every thread can hold a
    client of its own (e.g. an HTTP session). Same window rules as `run_load`.
    """
    clock = time.perf_counter
    start = clock()
    window_start = start + warmup_s
    window_end = window_start + duration_s
    lock = threading.Lock()
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    started = 0
    last_done = window_start

    def take_turn() -> bool:
        nonlocal started
        with lock:
            if clock() >= window_end or (max_calls is not None and started >= max_calls):
                return False
            started += 1
            return True

    def worker() -> None:
        nonlocal last_done
        call = make_call()
        mine: list[float] = []
        try:
            while take_turn():
                t0 = clock()
                try:
                    call()
                except Exception as exc:  # noqa: BLE001 - every failure is counted, none stops the run
                    if clock() >= window_start:
                        with lock:
                            errors[error_kind(exc)] += 1
                    continue
                t1 = clock()
                if window_start <= t1 <= window_end:
                    mine.append(t1 - t0)
                    if t1 > last_done:
                        last_done = t1
        finally:
            with lock:
                latencies.extend(mine)

    pool = [threading.Thread(target=worker, name=f"load-{i}", daemon=True) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    end = window_end if clock() >= window_end else last_done
    return LoadResult(len(latencies), max(end - window_start, 1e-9), latencies, errors, started)


def summarize(result: LoadResult, concurrency: int) -> dict[str, object]:
    """A round's figures: throughput, latency percentiles (ms) of the calls in the window, errors."""
    lat_ms = [x * 1000 for x in result.latencies_s]
    return {
        "rps": result.rps, "p50_ms": percentile(lat_ms, 50), "p90_ms": percentile(lat_ms, 90),
        "p95_ms": percentile(lat_ms, 95),
        "p99_ms": percentile(lat_ms, 99), "max_ms": max(lat_ms, default=float("nan")),
        "calls": result.count, "window_s": result.elapsed_s, "errors": dict(result.errors),
        "concurrency": concurrency,
    }


def worker_pid() -> int:
    """Load-generator entry point: its process id (its CPU is reported as "gen")."""
    return os.getpid()
