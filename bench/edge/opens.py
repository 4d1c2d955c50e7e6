"""Template opens in one gate process: the library's TemplateCipher with an EdgeView against the same
cipher asking DecryptDataKey for every open. Load-generator entry points (each runs in its own
process): `seal_templates` (set-up, not measured) and `run_opens_round`."""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass, field
from typing import Any

from bench.common.consents import PURPOSE_ID
from bench.common.cpu import Window
from bench.common.load import Target, run_load, summarize
from consentry_client import EdgeView, TemplateCipher

TEMPLATE_BYTES = 512  # a face template's size (the reference gate's)


@dataclass(frozen=True)
class OpensSpec:
    consent: Target  # as the gate: its own client certificate, its controller
    keyvault: Target
    edge: bool
    templates: tuple[tuple[str, bytes], ...]  # (subject, sealed blob)
    concurrency: int = 64
    gallery: int = 1  # templates per call: 1 opens one (`open`), more a gallery at once (`open_many`)
    duration_s: float = 5.0
    warmup_s: float = 1.5
    rng_seed: int = 0
    subject_prefix: str = ""  # unused: rounds open the same templates
    cpu_roots: dict[str, int] = field(default_factory=dict)


def template_of(subject: str) -> bytes:
    return (subject.encode() * (TEMPLATE_BYTES // len(subject) + 1))[:TEMPLATE_BYTES]


async def _seal(keyvault: Target, subjects: list[str]) -> list[tuple[str, bytes]]:
    async with keyvault.channel() as channel:
        cipher = TemplateCipher(channel)
        gate = asyncio.Semaphore(64)

        async def one(subject: str) -> tuple[str, bytes]:
            async with gate:
                return subject, await cipher.seal(subject, PURPOSE_ID, template_of(subject))
        return list(await asyncio.gather(*(one(s) for s in subjects)))


def seal_templates(keyvault: Target, subjects: list[str]) -> list[tuple[str, bytes]]:
    """Set-up: one template per consented subject, sealed as the gate seals it."""
    return asyncio.run(_seal(keyvault, subjects))


async def _round(spec: OpensSpec) -> dict[str, Any]:
    rng = random.Random(spec.rng_seed)
    async with contextlib.AsyncExitStack() as stack:
        keyvault = await stack.enter_async_context(spec.keyvault.channel())
        consent = await stack.enter_async_context(spec.consent.channel())
        view = await stack.enter_async_context(EdgeView(consent, keyvault)) if spec.edge else None
        cipher = TemplateCipher(keyvault, edge=view)
        if view is not None:
            await asyncio.wait_for(view.until_live(), 10)
            for subject, blob in spec.templates:  # each key released once, then kept
                await cipher.open(subject, PURPOSE_ID, blob)
        uses_before = view.accounts.uses_answered if view else 0
        accounts_before = view.accounts.accounts_sent if view else 0

        async def open_one() -> None:
            subject, blob = rng.choice(spec.templates)
            if await cipher.open(subject, PURPOSE_ID, blob) != template_of(subject):
                raise RuntimeError("wrong template")

        async def open_gallery() -> None:
            chosen = rng.sample(spec.templates, spec.gallery)
            opened = await cipher.open_many([(subject, PURPOSE_ID, blob) for subject, blob in chosen])
            if opened != [template_of(subject) for subject, _ in chosen]:
                raise RuntimeError("wrong template")

        with Window(spec.cpu_roots, spec.warmup_s, spec.duration_s) as measured:
            result = await run_load(open_one if spec.gallery == 1 else open_gallery, concurrency=spec.concurrency,
                                    duration_s=spec.duration_s, warmup_s=spec.warmup_s)
        out: dict[str, Any] = {**summarize(result, spec.concurrency), "cpu_cores": measured.cores()}
        if view is not None:
            uses = view.accounts.uses_answered - uses_before
            accounts = view.accounts.accounts_sent - accounts_before
            out.update(kept=len(view), uses_from_memory=uses, record_calls=accounts,
                       uses_per_record_call=uses / accounts if accounts else float("nan"))
        return out


def run_opens_round(spec: OpensSpec) -> dict[str, Any]:
    return asyncio.run(_round(spec))
