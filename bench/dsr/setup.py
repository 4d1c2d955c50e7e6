"""Load-generator entry points of the dsr set-up (not measured): the dev stack's purpose and its notice,
consent for every subject, and each subject's template enrolled at both face gates with the gate's
own code (examples/face_gate: FaceGate.enrol checks consent, seals the template under the subject's
data key, stores it in the gate's database)."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from bench.common.load import CALL_TIMEOUT_S
from bench.common.platform import seed_demo_consents, seed_demo_purpose
from bench.dsr.calls import Endpoints
from consentry.dsr.v1 import dsr_pb2 as pb
from consentry.dsr.v1 import dsr_pb2_grpc
from consentry_client import ConsentGate, TemplateCipher
from examples.face_gate.gate import FaceGate
from examples.face_gate.store import FaceStore

TEMPLATE_BYTES = 512  # what `face_gate serve` enrols for its demo subjects


def _seed_endpoints(ep: Endpoints) -> dict[str, Any]:
    """The endpoints.json shape the dev platform's seeding reads, for the operator (client "admin")."""
    ca, cert, key = ep.consent.tls or (None, None, None)
    return {"consent": f"localhost:{ep.consent.port}", "ca": str(ca),
            "clients": {"admin": {"cert": str(cert), "key": str(key)}}}


async def _grant(ep: Endpoints, subjects: list[str], concurrency: int) -> None:
    endpoints = _seed_endpoints(ep)
    await seed_demo_purpose(endpoints, ep.purpose)
    # seed_demo_consents grants one subject after another on its own channel: `concurrency` of them at once.
    slices = [subjects[i::concurrency] for i in range(concurrency)]
    await asyncio.gather(*(seed_demo_consents(endpoints, ep.purpose, part) for part in slices if part))


async def _enrol(ep: Endpoints, subjects: list[str], concurrency: int) -> dict[str, int]:
    # Each gate as itself: its certificate to consent and keyvault, its role in its database.
    channels = {name: (ep.gate_channel("consent", name), ep.gate_channel("keyvault", name)) for name in ep.gate_dsns}
    stores = {name: await FaceStore.open(dsn) for name, dsn in ep.gate_dsns.items()}
    try:
        gates = {name: FaceGate(store, ConsentGate(channels[name][0], timeout=CALL_TIMEOUT_S),
                                TemplateCipher(channels[name][1], timeout=CALL_TIMEOUT_S))
                 for name, store in stores.items()}
        queue = iter(subjects)

        async def worker() -> None:
            for subject_id in queue:
                for gate in gates.values():
                    await gate.enrol(subject_id, ep.purpose, os.urandom(TEMPLATE_BYTES), display_name=subject_id)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return {name: await store.count() for name, store in stores.items()}
    finally:
        for store in stores.values():
            await store.close()
        for channel in (c for pair in channels.values() for c in pair):
            await channel.close()


async def _processors(ep: Endpoints) -> list[dict[str, Any]]:
    async with ep.dsr.channel() as channel:
        found = await dsr_pb2_grpc.DsrServiceStub(channel).ListProcessors(pb.ListProcessorsRequest(),
                                                                        timeout=CALL_TIMEOUT_S)
    return [{"name": p.name, "purposes": list(p.purpose_ids),
             "delete": pb.CAPABILITY_DELETE in p.capabilities} for p in found.processors]


async def _prepare(ep: Endpoints, subjects: list[str], concurrency: int) -> dict[str, Any]:
    began = time.monotonic()
    await _grant(ep, subjects, concurrency)
    granted = time.monotonic()
    templates = await _enrol(ep, subjects, concurrency)
    return {"templates": templates, "processors": await _processors(ep), "grant_seconds": granted - began,
            "enrol_seconds": time.monotonic() - granted}


def prepare(ep: Endpoints, subjects: list[str], concurrency: int) -> dict[str, Any]:
    """Load-generator entry point: purpose, consents, enrolment at every gate; the templates each gate
    holds afterwards and the registered processors."""
    return asyncio.run(_prepare(ep, subjects, concurrency))
