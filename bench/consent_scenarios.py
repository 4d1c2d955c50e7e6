"""The consent calls the benchmark makes, and the entry points the load-generator process runs.

Every function here runs in the load-generator process: the orchestrator only hands it picklable
`RoundSpec`s. The same call code is pointed at the consent service and at the echo baseline (which
answers the same RPCs with the same message types), so the two differ only in the server.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from google.protobuf import duration_pb2

from bench.cpu import Snapshot, cores_between, snapshot
from bench.load import CallFailed, LoadResult, percentile, run_load
from consentry.consent.v1 import consent_pb2 as pb
from consentry.consent.v1 import consent_pb2_grpc

PURPOSE_ID = "bench-gate-access"
NOTICE_EN = "We store a template of your face to open the gate. You can use your badge instead."
NOTICE_HASH = hashlib.sha256(NOTICE_EN.encode()).hexdigest()  # what a grant names: the text the person saw
SEED_PREFIX = "subj-"
# Subjects nobody granted; the echo baseline answers DENY for this prefix, like the service does.
UNKNOWN_PREFIX = "unknown-"
UNKNOWN_POOL = 1000
CALL_TIMEOUT_S = 10.0  # bounds every call, hence how long a round can overrun its window


@dataclass(frozen=True)
class Target:
    """Where a round sends its calls; `tls` is (ca, client cert, client key) or None for plaintext."""

    port: int
    tls: tuple[Path, Path, Path] | None

    def channel(self) -> grpc.aio.Channel:
        address = f"127.0.0.1:{self.port}"
        if self.tls is None:
            return grpc.aio.insecure_channel(address)
        ca, cert, key = (p.read_bytes() for p in self.tls)
        return grpc.aio.secure_channel(address, grpc.ssl_channel_credentials(ca, key, cert))


@dataclass(frozen=True)
class RoundSpec:
    scenario: str  # "check" | "check_batch" | "grant" | "seed"
    target: Target
    concurrency: int = 64
    duration_s: float = 5.0
    warmup_s: float = 1.0
    max_calls: int | None = None
    rng_seed: int = 0
    seeded_subjects: int = 10_000
    unknown_share: float = 0.1
    batch_size: int = 100
    subject_prefix: str = "grant-"  # grant: every call takes the next fresh subject under this prefix
    seed_prefix: str = SEED_PREFIX  # seed: grants f"{seed_prefix}{i:06d}" for i < seeded_subjects
    cpu_roots: dict[str, int] = field(default_factory=dict)  # role -> pid whose process tree CPU is reported


def seeded_subject(i: int, prefix: str = SEED_PREFIX) -> str:
    return f"{prefix}{i:06d}"


def grant_request(subject_id: str) -> pb.GrantConsentRequest:
    return pb.GrantConsentRequest(
        subject_id=subject_id, purpose_id=PURPOSE_ID, notice_version=1, notice_language="en",
        notice_hash=NOTICE_HASH, collection_method=pb.COLLECTION_METHOD_APP_SCREEN,
        evidence_ref="bench-screen-tap", actor=pb.Actor(kind=pb.ACTOR_KIND_SUBJECT), subject_age=30,
        jurisdiction="CN", alternative_offered=True, idempotency_key=f"bench-{subject_id}",
    )


def _check_mix(spec: RoundSpec, rng: random.Random) -> Callable[[], tuple[pb.CheckConsentRequest, int]]:
    """Random (request, expected decision) pairs: seeded subjects ALLOW, unknown ones DENY."""
    granted = [pb.CheckConsentRequest(subject_id=seeded_subject(i), purpose_id=PURPOSE_ID)
               for i in range(spec.seeded_subjects)]
    unknown = [pb.CheckConsentRequest(subject_id=f"{UNKNOWN_PREFIX}{i}", purpose_id=PURPOSE_ID)
               for i in range(UNKNOWN_POOL)]

    def pick() -> tuple[pb.CheckConsentRequest, int]:
        if rng.random() < spec.unknown_share:
            return rng.choice(unknown), pb.DECISION_DENY
        return rng.choice(granted), pb.DECISION_ALLOW

    return pick


def _verify(result: pb.CheckConsentResponse, expected: int) -> None:
    if result.decision != expected or (expected == pb.DECISION_DENY and result.reason != pb.DENY_REASON_NO_CONSENT):
        # E.g. DENY/UNAVAILABLE when the gate timed out: a fast wrong answer must not count as throughput.
        raise CallFailed(f"{pb.Decision.Name(result.decision)}/{pb.DenyReason.Name(result.reason)}")


def make_call(spec: RoundSpec, stub: consent_pb2_grpc.ConsentServiceStub) -> Callable[[], Awaitable[None]]:
    rng = random.Random(spec.rng_seed)
    if spec.scenario == "check":
        pick = _check_mix(spec, rng)

        async def check() -> None:
            request, expected = pick()
            _verify(await stub.CheckConsent(request, timeout=CALL_TIMEOUT_S), expected)

        return check
    if spec.scenario == "check_batch":
        pick = _check_mix(spec, rng)

        async def check_batch() -> None:
            picked = [pick() for _ in range(spec.batch_size)]
            response = await stub.CheckConsents(pb.CheckConsentsRequest(checks=[r for r, _ in picked]),
                                                timeout=CALL_TIMEOUT_S)
            if len(response.results) != len(picked):
                raise CallFailed("wrong result count")
            for result, (_, expected) in zip(response.results, picked, strict=True):
                _verify(result, expected)

        return check_batch
    if spec.scenario in ("grant", "seed"):
        subjects = ((seeded_subject(i, spec.seed_prefix) for i in range(spec.seeded_subjects)) if spec.scenario == "seed"
                    else (f"{spec.subject_prefix}{n}" for n in itertools.count()))

        async def grant() -> None:
            response = await stub.GrantConsent(grant_request(next(subjects)), timeout=CALL_TIMEOUT_S)
            if response.consent.state != pb.CONSENT_STATE_GIVEN:
                raise CallFailed(f"state {pb.ConsentState.Name(response.consent.state)}")

        return grant
    raise ValueError(f"unknown scenario {spec.scenario!r}")


def summarize(result: LoadResult, spec: RoundSpec) -> dict[str, object]:
    lat_ms = [x * 1000 for x in result.latencies_s]
    return {
        "rps": result.rps, "p50_ms": percentile(lat_ms, 50), "p90_ms": percentile(lat_ms, 90),
        "p99_ms": percentile(lat_ms, 99), "max_ms": max(lat_ms, default=float("nan")),
        "calls": result.count, "window_s": result.elapsed_s, "errors": dict(result.errors),
        "concurrency": spec.concurrency,
    }


class _WindowCpu:
    """CPU of each process over the measured window only (after the warm-up), sampled from here so that
    the window edges match the load generator's own clock."""

    def __init__(self, spec: RoundSpec) -> None:
        self._spec = spec
        self._before: Snapshot | None = None
        self._after: Snapshot | None = None

    async def run(self) -> None:
        await asyncio.sleep(self._spec.warmup_s)
        self._before = snapshot(self._spec.cpu_roots)
        await asyncio.sleep(self._spec.duration_s)
        self._after = snapshot(self._spec.cpu_roots)

    def cores(self) -> dict[str, float]:
        if self._before is None:
            return {}
        return cores_between(self._before, self._after or snapshot(self._spec.cpu_roots))


async def _round(spec: RoundSpec) -> dict[str, object]:
    async with spec.target.channel() as channel:
        # Connect (TCP + TLS handshake) before the clock starts; the warm-up covers the rest.
        await asyncio.wait_for(channel.channel_ready(), CALL_TIMEOUT_S)
        call = make_call(spec, consent_pb2_grpc.ConsentServiceStub(channel))
        max_calls = spec.seeded_subjects if spec.scenario == "seed" else spec.max_calls
        cpu = _WindowCpu(spec)
        sampler = asyncio.create_task(cpu.run())
        try:
            result = await run_load(call, concurrency=spec.concurrency, duration_s=spec.duration_s,
                                    warmup_s=spec.warmup_s, max_calls=max_calls)
        finally:
            sampler.cancel()  # a count-bounded run (seed) ends long before its nominal window
    if spec.scenario == "seed" and result.started != spec.seeded_subjects:
        result.errors["not all subjects seeded"] += 1
    return {**summarize(result, spec), "cpu_cores": cpu.cores()}


def run_round(spec: RoundSpec) -> dict[str, object]:
    """Load-generator entry point (runs in its own process): one round, summarized."""
    return asyncio.run(_round(spec))


async def _setup(target: Target) -> None:
    retention = duration_pb2.Duration(seconds=365 * 86400)
    purpose = pb.Purpose(
        purpose_id=PURPOSE_ID, controller_id="bench-campus", name="Gate access by face (benchmark)",
        data_categories=[pb.DATA_CATEGORY_FACE_TEMPLATE], storage_location=pb.STORAGE_LOCATION_SERVER,
        retention=retention, legal_basis=pb.LEGAL_BASIS_SEPARATE_CONSENT,
        non_face_alternative="Badge at the reception desk", pia_reference="PIA-BENCH-1",
        withdrawal_method="Settings > Face access > Withdraw",
    )
    async with target.channel() as channel:
        stub = consent_pb2_grpc.ConsentServiceStub(channel)
        await stub.RegisterPurpose(pb.RegisterPurposeRequest(purpose=purpose, idempotency_key="bench-register"),
                                   timeout=CALL_TIMEOUT_S)
        await stub.PublishNotice(pb.PublishNoticeRequest(
            purpose_id=PURPOSE_ID, idempotency_key="bench-publish",
            texts=[pb.PublishNoticeRequest.Text(language="en", text=NOTICE_EN)]), timeout=CALL_TIMEOUT_S)


def setup_purpose(target: Target) -> None:
    """Load-generator entry point: registers the benchmark purpose and publishes notice v1 (en)."""
    asyncio.run(_setup(target))


def worker_pid() -> int:
    return os.getpid()
