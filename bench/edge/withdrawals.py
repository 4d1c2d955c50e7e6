"""Withdrawal to refusal at connected gates: gate processes keep opening their templates from memory
(EdgeView), the benchmark withdraws the consents one by one, and each gate notes when an open of each
is first refused. One more gate follows WatchConsents through a proxy that goes silent once the gate
is warm, so it never hears the withdrawals: it must refuse within its silence bound all the same.
`gate_main` runs in a process of its own per gate; `withdraw_all` in the load generator."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from multiprocessing.queues import Queue

from bench.common.consents import PURPOSE_ID
from bench.common.load import CALL_TIMEOUT_S, Target
from bench.common.platform import StallingProxy
from consentry.consent.v1 import consent_pb2 as pb
from consentry.consent.v1 import consent_pb2_grpc
from consentry_client import ConsentRefused, EdgeView, TemplateCipher, TemplateRetired

CYCLE_S = 0.01  # how often a gate opens each template still open to it: the measurement's resolution


@dataclass(frozen=True)
class GateSpec:
    name: str
    consent: Target
    keyvault: Target
    templates: tuple[tuple[str, bytes], ...]
    silent: bool  # WatchConsents through a proxy that stalls once the gate is warm
    silence_bound_s: float
    deadline_s: float  # after the gate is ready: stop waiting for refusals


def gate_main(spec: GateSpec, ready: Queue, results: Queue) -> None:
    asyncio.run(_gate(spec, ready, results))


async def _gate(spec: GateSpec, ready: Queue, results: Queue) -> None:
    async with contextlib.AsyncExitStack() as stack:
        proxy = await stack.enter_async_context(StallingProxy(spec.consent.port)) if spec.silent else None
        consent = await stack.enter_async_context(
            Target(proxy.port if proxy else spec.consent.port, spec.consent.tls).channel())
        keyvault = await stack.enter_async_context(spec.keyvault.channel())
        view = await stack.enter_async_context(EdgeView(consent, keyvault, silence_bound_s=spec.silence_bound_s))
        await asyncio.wait_for(view.until_live(), 30)
        cipher = TemplateCipher(keyvault, edge=view)
        for subject, blob in spec.templates:
            await cipher.open(subject, PURPOSE_ID, blob)
        kept = len(view)
        if proxy is not None:
            proxy.stall()
        ready.put((spec.name, kept))
        refused: dict[str, float] = {}
        errors: dict[str, int] = {}
        pending = dict(spec.templates)
        ends = time.monotonic() + spec.deadline_s
        while pending and time.monotonic() < ends:
            for subject, blob in list(pending.items()):
                try:
                    await cipher.open(subject, PURPOSE_ID, blob)
                except (ConsentRefused, TemplateRetired):
                    refused[subject] = time.time()
                    del pending[subject]
                except Exception as error:  # noqa: BLE001 - counted: the round reports it
                    errors[type(error).__name__] = errors.get(type(error).__name__, 0) + 1
            await asyncio.sleep(CYCLE_S)
    results.put((spec.name, refused, errors, sorted(pending)))


async def _withdraw_all(target: Target, subjects: list[str], spacing_s: float) -> dict[str, float]:
    asked: dict[str, float] = {}
    async with target.channel() as channel:
        stub = consent_pb2_grpc.ConsentServiceStub(channel)
        for subject in subjects:
            asked[subject] = time.time()
            await stub.WithdrawConsent(pb.WithdrawConsentRequest(
                subject_id=subject, purpose_id=PURPOSE_ID, reason="benchmark", idempotency_key=f"bench-wd-{subject}",
                actor=pb.Actor(kind=pb.ACTOR_KIND_SUBJECT)), timeout=CALL_TIMEOUT_S)
            await asyncio.sleep(spacing_s)
    return asked


def withdraw_all(target: Target, subjects: list[str], spacing_s: float) -> dict[str, float]:
    """Load-generator entry point: each consent withdrawn in turn; when each WithdrawConsent was sent."""
    return asyncio.run(_withdraw_all(target, subjects, spacing_s))
