"""What a keyvault or raw transit round measures besides its calls: CPU per process and Vault
transit requests over the measured window, and the figures of a count-bounded (bulk) round."""

from __future__ import annotations

import threading
import time
from typing import Any

import requests

from bench.consent_scenarios import summarize
from bench.cpu import Snapshot, cores_between, snapshot
from bench.keyvault_scenarios import BULK_SCENARIOS, KvRoundSpec, Vault
from bench.load import LoadResult

# OpenBao's Prometheus counts of transit requests, one per operation (vault_route_update_transit__count,
# vault_route_delete_transit__count, ...): their sum is every request to the transit mount.
TRANSIT_COUNTER_SUFFIX = "_transit__count"


def transit_requests(metrics: Vault | None) -> float | None:
    """OpenBao's running count of requests to the transit mount (encrypt, decrypt, key create/delete, ...),
    or None if it cannot be read."""
    if metrics is None:
        return None
    try:
        reply = requests.get(f"{metrics.address}/v1/sys/metrics", params={"format": "prometheus"},
                             headers={"X-Vault-Token": metrics.token}, timeout=5)
        reply.raise_for_status()
    except requests.RequestException:
        return None
    total = 0.0  # none yet: no line
    for line in reply.text.splitlines():
        name, _, value = line.partition(" ")
        if name.startswith("vault_route_") and name.endswith(TRANSIT_COUNTER_SUFFIX):
            total += float(value)
    return total


class Window:
    """CPU per process, and Vault transit requests, over the measured window; a thread, so that it
    serves the asyncio rounds and the threaded ones alike. Leaving the `with` block ends the window
    early: a count-bounded round's window ends when its last call returns.

    Both figures are rates over the interval between two samples, each timed where it was taken:
    a sample that comes late (the generator is busy) shortens the interval, it does not bias the rate.
    """

    def __init__(self, spec: KvRoundSpec) -> None:
        self._spec = spec
        self._closed = threading.Event()
        self._before: tuple[Snapshot, tuple[float, float] | None] | None = None
        self._after: tuple[Snapshot, tuple[float, float] | None] | None = None
        self._thread = threading.Thread(target=self._run, name="window", daemon=True)

    def _take(self) -> tuple[Snapshot, tuple[float, float] | None]:
        cpu = snapshot(self._spec.cpu_roots)
        sent = time.monotonic()
        count = transit_requests(self._spec.metrics)
        # OpenBao reads its counter somewhere between sending and receiving: take the midpoint.
        return cpu, None if count is None else ((sent + time.monotonic()) / 2, count)

    def _run(self) -> None:
        began = time.monotonic()
        if self._closed.wait(self._spec.warmup_s):
            return
        self._before = self._take()
        self._closed.wait(max(0.0, began + self._spec.warmup_s + self._spec.duration_s - time.monotonic()))
        self._after = self._take()

    def __enter__(self) -> Window:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._closed.set()
        self._thread.join()

    def figures(self, rps: float) -> dict[str, Any]:
        if self._before is None or self._after is None:
            return {"cpu_cores": {}}
        out: dict[str, Any] = {"cpu_cores": cores_between(self._before[0], self._after[0])}
        if self._before[1] is not None and self._after[1] is not None:
            (t0, n0), (t1, n1) = self._before[1], self._after[1]
            out["vault_requests_per_s"] = (n1 - n0) / max(t1 - t0, 1e-9)
            out["vault_requests_per_call"] = out["vault_requests_per_s"] / rps if rps else float("nan")
        return out


def bulk_figures(result: LoadResult, spec: KvRoundSpec) -> dict[str, Any]:
    keys = result.count * spec.batch_size
    return {"keys": keys, "seconds": result.elapsed_s, "keys_per_s": keys / result.elapsed_s,
            "seconds_per_100k": result.elapsed_s * 100_000 / keys if keys else float("nan")}


def finish(result: LoadResult, spec: KvRoundSpec, window: Window) -> dict[str, Any]:
    if spec.scenario in BULK_SCENARIOS and result.count * spec.batch_size < spec.total:
        result.errors["not all subjects created"] += 1
    out = {**summarize(result, spec), **window.figures(result.rps)}  # type: ignore[arg-type]
    if spec.scenario in BULK_SCENARIOS:
        out.update(bulk_figures(result, spec))
    return out
