"""The consent calls the benchmark makes, and `run_round`, the entry point the load-generator process
runs for every consent round.

The section only hands the generator picklable `RoundSpec`s. The same call code is pointed at the
consent service and at the echo baseline (which answers the same RPCs with the same message types),
so the two differ only in the server.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bench.common.consents import CONTROLLER, PURPOSE_ID, grant_request
from bench.common.cpu import Window
from bench.common.load import CALL_TIMEOUT_S, CallFailed, Target, run_load, summarize
from bench.consent.echo import UNKNOWN_PREFIX
from consentry.consent.v1 import consent_pb2 as pb
from consentry.consent.v1 import consent_pb2_grpc

SEED_PREFIX = "subj-"
UNKNOWN_POOL = 1000  # subjects nobody granted, under the prefix the echo baseline, too, answers DENY


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
    # (seed: grants seeded_subject(i) for every i < seeded_subjects, the subjects the checks pick from)
    cpu_roots: dict[str, int] = field(default_factory=dict)  # role -> pid whose process tree CPU is reported


def seeded_subject(i: int) -> str:
    return f"{SEED_PREFIX}{i:06d}"


def _check_mix(spec: RoundSpec, rng: random.Random) -> Callable[[], tuple[pb.CheckConsentRequest, int]]:
    """Random (request, expected decision) pairs: seeded subjects ALLOW, unknown ones DENY. The benchmark
    client is an operator, so it names the controller the subjects are subjects of, as keyvault does."""
    at = CONTROLLER.controller_id
    granted = [pb.CheckConsentRequest(subject_id=seeded_subject(i), purpose_id=PURPOSE_ID, controller_id=at)
               for i in range(spec.seeded_subjects)]
    unknown = [pb.CheckConsentRequest(subject_id=f"{UNKNOWN_PREFIX}{i}", purpose_id=PURPOSE_ID, controller_id=at)
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
        subjects = ((seeded_subject(i) for i in range(spec.seeded_subjects)) if spec.scenario == "seed"
                    else (f"{spec.subject_prefix}{n}" for n in itertools.count()))

        async def grant() -> None:
            response = await stub.GrantConsent(grant_request(next(subjects)), timeout=CALL_TIMEOUT_S)
            if response.consent.state != pb.CONSENT_STATE_GIVEN:
                raise CallFailed(f"state {pb.ConsentState.Name(response.consent.state)}")

        return grant
    raise ValueError(f"unknown scenario {spec.scenario!r}")


async def _round(spec: RoundSpec) -> dict[str, object]:
    async with spec.target.channel() as channel:
        # Connect (TCP + TLS handshake) before the clock starts; the warm-up covers the rest.
        await asyncio.wait_for(channel.channel_ready(), CALL_TIMEOUT_S)
        call = make_call(spec, consent_pb2_grpc.ConsentServiceStub(channel))
        max_calls = spec.seeded_subjects if spec.scenario == "seed" else spec.max_calls
        # a count-bounded run (seed) ends long before its nominal window, and the window with it
        with Window(spec.cpu_roots, spec.warmup_s, spec.duration_s) as window:
            result = await run_load(call, concurrency=spec.concurrency, duration_s=spec.duration_s,
                                    warmup_s=spec.warmup_s, max_calls=max_calls)
    if spec.scenario == "seed" and result.started != spec.seeded_subjects:
        result.errors["not all subjects seeded"] += 1
    return {**summarize(result, spec.concurrency), "cpu_cores": window.cores()}


def run_round(spec: RoundSpec) -> dict[str, object]:
    """Load-generator entry point (runs in its own process): one round, summarized."""
    return asyncio.run(_round(spec))
