"""The dsr rounds, run in the load-generator process: many deletions submitted at a bounded concurrency
and followed to COMPLETED ("bulk"), and one deletion at a time ("latency").

Completion is read as an operator reads it, with GetRequest; the time a request became COMPLETED is
the one the service wrote in its timeline (same host, same wall clock), so the figures do not depend
on how often the poller asks. The bulk poller asks about the POLL_WINDOW oldest unfinished requests
at once, again at once if all of them had finished, otherwise after POLL_S: about one GetRequest per
request, plus at most POLL_WINDOW / POLL_S a second while the oldest are still in progress.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from collections import Counter
from typing import Any

from bench.common.cpu import cores_between, snapshot
from bench.common.load import CALL_TIMEOUT_S, error_kind, percentile, run_load
from bench.dsr.calls import SETTLED, DsrRoundSpec, delete, resent, stages, stamped
from consentry.dsr.v1 import dsr_pb2 as pb
from consentry.dsr.v1 import dsr_pb2_grpc

POLL_WINDOW = 10  # unfinished requests asked about at once (bulk)
POLL_S = 0.5  # pause between polls while the oldest are unfinished (bulk)
LATENCY_POLL_S = 0.025  # latency: pause between GetRequests of the one request in flight
PER_10K = 10_000


def _ms(values: list[float], prefix: str = "") -> dict[str, float]:
    return {f"{prefix}p50_ms": percentile(values, 50), f"{prefix}p90_ms": percentile(values, 90),
            f"{prefix}p99_ms": percentile(values, 99), f"{prefix}max_ms": max(values, default=float("nan"))}


def _stage_medians(found: list[dict[str, float]]) -> dict[str, float]:
    keys = ("to_verified", "own_part", "processors")
    return {f"{k}_p50_ms": statistics.median(f[k] for f in found) for k in keys} if found else {}


class _Watch:
    """Follows verified requests until each is settled (or the deadline passes)."""

    def __init__(self, stub: dsr_pb2_grpc.DsrServiceStub) -> None:
        self.stub = stub
        self.pending: dict[str, tuple[str, float]] = {}  # request id -> (subject, submission began), oldest first
        self.done: dict[str, tuple[str, float, float, float]] = {}  # -> (subject, began, completed, seen)
        self.stages: list[dict[str, float]] = []
        self.errors: Counter[str] = Counter()
        self.polls = self.resent = 0

    async def run(self, submitting: asyncio.Task, deadline: float) -> None:
        while not (submitting.done() and not self.pending) and time.monotonic() < deadline:
            batch = list(itertools.islice(self.pending, POLL_WINDOW))
            if not batch:
                await asyncio.sleep(POLL_S)
                continue
            replies = await asyncio.gather(*(self.stub.GetRequest(pb.GetRequestRequest(request_id=rid),
                                                                  timeout=CALL_TIMEOUT_S) for rid in batch),
                                           return_exceptions=True)
            self.polls += len(batch)
            finished = 0
            for rid, reply in zip(batch, replies, strict=True):
                if isinstance(reply, BaseException):
                    self.errors[f"GetRequest {error_kind(reply)}"] += 1
                    continue
                if reply.request.status in SETTLED:
                    finished += 1
                    self._settled(rid, reply.request)
            if finished < len(batch):
                await asyncio.sleep(POLL_S)

    def _settled(self, rid: str, r: pb.Request) -> None:
        subject_id, began = self.pending.pop(rid)
        if r.status != pb.REQUEST_STATUS_COMPLETED:
            self.errors[f"ended {pb.RequestStatus.Name(r.status)}"] += 1
            return
        self.done[rid] = (subject_id, began, stamped(r, pb.REQUEST_STATUS_COMPLETED) or float("nan"), time.time())
        self.stages.append(stages(r, began))
        self.resent += resent(r)


async def _bulk(spec: DsrRoundSpec) -> dict[str, Any]:
    async with spec.endpoints.dsr.channel() as channel:
        await asyncio.wait_for(channel.channel_ready(), CALL_TIMEOUT_S)
        watch = _Watch(dsr_pb2_grpc.DsrServiceStub(channel))
        subjects = iter(spec.subjects)

        async def submit_and_verify() -> None:
            subject_id = next(subjects)
            request_id, began = await delete(watch.stub, subject_id)
            watch.pending[request_id] = (subject_id, began)

        before = snapshot(spec.cpu_roots)
        start = time.time()
        submitting = asyncio.create_task(run_load(submit_and_verify, concurrency=spec.concurrency,
                                                  duration_s=spec.max_s, max_calls=len(spec.subjects)))
        await watch.run(submitting, time.monotonic() + spec.max_s)
        after = snapshot(spec.cpu_roots)
        load = await submitting
    n, done = len(spec.subjects), watch.done
    errors = Counter(load.errors) + watch.errors
    if watch.pending:
        errors[f"not settled within {spec.max_s:g}s"] += len(watch.pending)
    complete = len(done) == n
    seconds = (max(v[2] for v in done.values()) - start) if complete else float("nan")
    cores = cores_between(before, after)
    return {
        "requests": n, "completed": len(done), "seconds": seconds,
        "seconds_per_10k": seconds * PER_10K / n, "rps": len(done) / seconds if complete else 0.0,
        "seen_seconds": (max(v[3] for v in done.values()) - start) if complete else float("nan"),
        # each request's own time, submission to COMPLETED, under the load of the others
        **_ms([1000 * (v[2] - v[1]) for v in done.values()]),
        **_stage_medians(watch.stages),
        "submit_seconds": load.elapsed_s, "submit_rps": load.rps,
        **_ms([1000 * x for x in load.latencies_s], "submit_"),
        "polls_per_request": watch.polls / n, "resent_tasks": watch.resent, "concurrency": spec.concurrency,
        "errors": dict(errors), "cpu_cores": cores,
        "cpu_seconds": {role: c * (after[0] - before[0]) for role, c in cores.items()},
    }


async def _latency(spec: DsrRoundSpec) -> dict[str, Any]:
    async with spec.endpoints.dsr.channel() as channel:
        await asyncio.wait_for(channel.channel_ready(), CALL_TIMEOUT_S)
        stub = dsr_pb2_grpc.DsrServiceStub(channel)
        latencies, seen, found = [], [], []
        errors: Counter[str] = Counter()
        before = snapshot(spec.cpu_roots)
        for subject_id in spec.subjects:
            try:
                request_id, began = await delete(stub, subject_id)
                while True:
                    r = (await stub.GetRequest(pb.GetRequestRequest(request_id=request_id),
                                               timeout=CALL_TIMEOUT_S)).request
                    if r.status in SETTLED or time.time() - began > spec.max_s:
                        break
                    await asyncio.sleep(LATENCY_POLL_S)
            except Exception as exc:  # noqa: BLE001 - counted; the next deletion still runs
                errors[error_kind(exc)] += 1
                continue
            if r.status != pb.REQUEST_STATUS_COMPLETED:
                errors[f"ended {pb.RequestStatus.Name(r.status)}" if r.status in SETTLED
                       else f"not settled within {spec.max_s:g}s"] += 1
                continue
            latencies.append(1000 * ((stamped(r, pb.REQUEST_STATUS_COMPLETED) or float("nan")) - began))
            seen.append(1000 * (time.time() - began))
            found.append(stages(r, began))
        after = snapshot(spec.cpu_roots)
    window = after[0] - before[0]
    return {"requests": len(spec.subjects), "completed": len(latencies), "rps": len(latencies) / window,
            "window_s": window, **_ms(latencies), "seen_p50_ms": percentile(seen, 50),
            **_stage_medians(found), "errors": dict(errors), "cpu_cores": cores_between(before, after)}


def run_dsr_round(spec: DsrRoundSpec) -> dict[str, Any]:
    """Load-generator entry point (runs in its own process): one dsr round, summarized."""
    return asyncio.run(_bulk(spec) if spec.scenario == "bulk" else _latency(spec))
