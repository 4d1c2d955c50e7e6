"""Load-generator entry points of the keyvault set-up (not measured): keys for the consented
subjects, and one data key each, kept for the decrypt rounds."""

from __future__ import annotations

import asyncio

from bench.consent_scenarios import CALL_TIMEOUT_S, PURPOSE_ID, Target
from bench.keyvault_scenarios import consented_subject
from consentry.keyvault.v1 import keyvault_pb2 as pb
from consentry.keyvault.v1 import keyvault_pb2_grpc


async def _ensure(target: Target, subjects: list[str], batch: int) -> int:
    async with target.channel() as channel:
        stub = keyvault_pb2_grpc.KeyVaultServiceStub(channel)
        active = 0
        for first in range(0, len(subjects), batch):
            reply = await stub.EnsureSubjectKeys(pb.EnsureSubjectKeysRequest(subject_ids=subjects[first:first + batch]),
                                                 timeout=CALL_TIMEOUT_S * 3)
            active += sum(s.state == pb.KEY_STATE_ACTIVE for s in reply.statuses)
        return active


def ensure_keys(target: Target, subjects: int, batch: int) -> int:
    """Load-generator entry point: keys for the consented subjects (not measured); returns how many are ACTIVE."""
    return asyncio.run(_ensure(target, [consented_subject(i) for i in range(subjects)], batch))


async def _material(target: Target, subjects: int, concurrency: int, spread_s: float) -> list[tuple[str, bytes, bytes]]:
    async with target.channel() as channel:
        stub = keyvault_pb2_grpc.KeyVaultServiceStub(channel)
        gate = asyncio.Semaphore(concurrency)

        async def one(i: int, subject: str) -> tuple[str, bytes, bytes]:
            await asyncio.sleep(i * spread_s / subjects)
            async with gate:
                reply = await stub.GenerateDataKey(pb.GenerateDataKeyRequest(subject_id=subject, purpose_id=PURPOSE_ID),
                                                   timeout=CALL_TIMEOUT_S)
            return subject, reply.wrapped_key, reply.plaintext_key

        return list(await asyncio.gather(*(one(i, consented_subject(i)) for i in range(subjects))))


async def _materials(targets: list[Target], subjects: int, concurrency: int,
                     spread_s: float) -> list[list[tuple[str, bytes, bytes]]]:
    return list(await asyncio.gather(*(_material(t, subjects, concurrency, spread_s) for t in targets)))


def release_material(targets: list[Target], subjects: int, concurrency: int,
                     spread_s: float) -> list[list[tuple[str, bytes, bytes]]]:
    """Load-generator entry point: per keyvault (at the same time), one GenerateDataKey per consented
    subject, kept for the decrypt rounds, started evenly over `spread_s` seconds.

    The first release of a subject puts its key in the keyvault's cache, which forgets it
    key_cache_ttl_s later. Spread out, the entries expire spread out, as in a service that has been
    running for a while (each is put back by the first call after it expired); all made in the same
    second, they would all expire together and the round that catches that moment would unwrap all
    keys at once."""
    return asyncio.run(_materials(targets, subjects, concurrency, spread_s))
