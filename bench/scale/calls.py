"""The scale section's calls, and the entry points the load-generator process runs for them: CheckConsent
over a loaded consent table (`run_checks`), and ListRequests over a loaded dsr table (`page_token`,
`run_lists`). The audit rounds are the audit section's own (bench/audit/proofs.py)."""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bench.common.consents import CONTROLLER, PURPOSE_ID
from bench.common.cpu import Window, cores_between, snapshot
from bench.common.load import CALL_TIMEOUT_S, CallFailed, Target, error_kind, percentile, run_load, summarize
from consentry.consent.v1 import consent_pb2 as cpb
from consentry.consent.v1 import consent_pb2_grpc
from consentry.dsr.v1 import dsr_pb2 as dpb
from consentry.dsr.v1 import dsr_pb2_grpc

SUBJECT_PREFIX = "scale-subj-"  # loaded consent i is subject SUBJECT_PREFIX + i in 9 digits (consent_rows.py)
NOBODY_PREFIX = "scale-nobody-"  # subjects without a record
PERSON_PREFIX = "dsr-subj-"  # dsr_rows.py's people
STRIDE = 1_000_003  # a prime: position p asks about subject (p * STRIDE) mod n, a permutation of the table


def loaded_subject(i: int) -> str:
    return f"{SUBJECT_PREFIX}{i:09d}"


def _stride(n: int) -> int:
    return STRIDE if math.gcd(STRIDE, n) == 1 else 1


@dataclass(frozen=True)
class CheckSpec:
    """CheckConsent, `concurrency` in flight, on a table of `records` loaded subjects. Round i asks
    about positions i * share, i * share + 1, ... of a fixed permutation of the table, so no subject is
    asked about twice in the run (the decision cache answers none) and the subjects are spread over
    the whole table; `unknown_share` of the calls ask about a subject with no record, each a new one."""

    target: Target
    records: int
    share: int  # positions per round
    concurrency: int = 64
    duration_s: float = 5.0
    warmup_s: float = 1.5
    unknown_share: float = 0.1
    rng_seed: int = 0  # the round
    subject_prefix: str = ""  # not used (run_interleaved sets it per round)
    cpu_roots: dict[str, int] = field(default_factory=dict)


async def _checks(spec: CheckSpec) -> dict[str, Any]:
    rng, stride = random.Random(spec.rng_seed), _stride(spec.records)
    counts = Counter[str]()

    def pick() -> tuple[str, int]:
        if rng.random() < spec.unknown_share:
            counts["unknown"] += 1
            return f"{NOBODY_PREFIX}r{spec.rng_seed}-{counts['unknown']}", cpb.DECISION_DENY
        k = counts["known"]
        counts["known"] += 1
        counts["repeated"] += k >= spec.share  # past its share: a subject another round asked about
        return loaded_subject(((spec.rng_seed * spec.share + k) * stride) % spec.records), cpb.DECISION_ALLOW

    async with spec.target.channel() as channel:
        await asyncio.wait_for(channel.channel_ready(), CALL_TIMEOUT_S)
        stub = consent_pb2_grpc.ConsentServiceStub(channel)

        async def check() -> None:
            subject, expected = pick()
            reply = await stub.CheckConsent(cpb.CheckConsentRequest(
                subject_id=subject, purpose_id=PURPOSE_ID, controller_id=CONTROLLER.controller_id),
                timeout=CALL_TIMEOUT_S)
            if reply.decision != expected or (expected == cpb.DECISION_DENY
                                              and reply.reason != cpb.DENY_REASON_NO_CONSENT):
                raise CallFailed(f"{cpb.Decision.Name(reply.decision)}/{cpb.DenyReason.Name(reply.reason)}")

        with Window(spec.cpu_roots, spec.warmup_s, spec.duration_s) as window:
            result = await run_load(check, concurrency=spec.concurrency, duration_s=spec.duration_s,
                                    warmup_s=spec.warmup_s)
    return {**summarize(result, spec.concurrency), "cpu_cores": window.cores(), "records": spec.records,
            "subjects_asked": counts["known"], "subjects_repeated": counts["repeated"]}


def run_checks(spec: CheckSpec) -> dict[str, Any]:
    """Load-generator entry point: one CheckConsent round."""
    return asyncio.run(_checks(spec))


@dataclass(frozen=True)
class ListSpec:
    """ListRequests one call at a time with `query` (ListRequestsRequest fields; "subject": a random
    person per call), from `page_token` (a page deep in the listing) or the first page. A round is one
    call of warm-up, then calls until at least `min_calls` were made and `min_s` have passed (at most
    `max_s`): a page of a large table may take longer than a fixed window."""

    target: Target
    query: tuple[tuple[str, Any], ...]
    page_token: str = ""
    people: int = 1
    page_size: int = 100
    min_calls: int = 10
    min_s: float = 5.0
    max_s: float = 300.0
    rng_seed: int = 0
    subject_prefix: str = ""  # not used (run_interleaved sets it per round)
    cpu_roots: dict[str, int] = field(default_factory=dict)


def _request(spec: ListSpec, rng: random.Random, token: str = "") -> tuple[dpb.ListRequestsRequest, str]:
    query = dict(spec.query)
    subject = ""
    if query.pop("subject", False):
        subject = f"{PERSON_PREFIX}{rng.randrange(spec.people):09d}"
        query.update(subject_id=subject, controller_id=CONTROLLER.controller_id)
    return dpb.ListRequestsRequest(**query, page_size=spec.page_size, page_token=token or spec.page_token), subject


def _check_page(spec: ListSpec, reply: dpb.ListRequestsResponse, subject: str) -> None:
    """A page that does its work: full unless it is the last, every request as the filter asks."""
    query, found = dict(spec.query), list(reply.requests)
    if len(found) > spec.page_size or (not subject and not found):
        raise CallFailed(f"{len(found)} requests on a page of {spec.page_size}")
    if reply.next_page_token and len(found) < spec.page_size:
        raise CallFailed("a short page that is not the last")
    wanted = {"status": "status", "type": "type", "jurisdiction": "jurisdiction"}
    for r in found:
        if any(getattr(r, attr) != query[key] for key, attr in wanted.items() if key in query):
            raise CallFailed("a request the filter excludes")
        if subject and r.subject_id != subject and not r.subject_id.startswith("erased:"):
            raise CallFailed("another subject's request")


async def _page_token(spec: ListSpec, pages: int) -> str:
    async with spec.target.channel() as channel:
        stub, rng, token = dsr_pb2_grpc.DsrServiceStub(channel), random.Random(0), ""
        for _ in range(pages):
            token = (await stub.ListRequests(_request(spec, rng, token)[0], timeout=spec.max_s)).next_page_token
            if not token:
                raise RuntimeError(f"the listing {dict(spec.query)} has fewer than {pages + 1} pages")
        return token


def page_token(spec: ListSpec, pages: int) -> str:
    """Load-generator entry point: the token of the page after `pages` pages of `spec`'s listing."""
    return asyncio.run(_page_token(spec, pages))


async def _lists(spec: ListSpec) -> dict[str, Any]:
    rng, errors, latencies = random.Random(spec.rng_seed), Counter[str](), []
    async with spec.target.channel() as channel:
        stub = dsr_pb2_grpc.DsrServiceStub(channel)

        async def call() -> None:
            request, subject = _request(spec, rng)
            _check_page(spec, await stub.ListRequests(request, timeout=spec.max_s), subject)

        await call()  # warm-up: connection, plan cache
        before, began = snapshot(spec.cpu_roots), time.perf_counter()
        while time.perf_counter() - began < spec.max_s and (len(latencies) + sum(errors.values()) < spec.min_calls
                                                            or time.perf_counter() - began < spec.min_s):
            t0 = time.perf_counter()
            try:
                await call()
            except Exception as exc:  # noqa: BLE001 - every failure is counted, none stops the round
                errors[error_kind(exc)] += 1
                continue
            latencies.append(time.perf_counter() - t0)
        seconds, cpu = time.perf_counter() - began, cores_between(before, snapshot(spec.cpu_roots))
    ms = [x * 1000 for x in latencies]
    return {"rps": len(ms) / seconds, "p50_ms": percentile(ms, 50), "p90_ms": percentile(ms, 90),
            "p99_ms": percentile(ms, 99), "max_ms": max(ms, default=math.nan), "calls": len(ms),
            "window_s": seconds, "errors": dict(errors), "concurrency": 1, "cpu_cores": cpu}


def run_lists(spec: ListSpec) -> dict[str, Any]:
    """Load-generator entry point: one ListRequests round."""
    return asyncio.run(_lists(spec))
