"""The keyvault over gRPC: the calls of each keyvault scenario, `run_kv_round`, the entry point the
load-generator process runs for every keyvault and raw transit round, and the set-up (not measured):
keys for the consented subjects, and one data key each, kept for the decrypt rounds.

Keyvault rounds use grpc.aio (one channel, `concurrency` calls in flight); raw transit rounds
(`transit`) use hvac from threads.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
from collections.abc import Awaitable, Callable
from typing import Any

from bench.common.consents import CONTROLLER, PURPOSE_ID
from bench.common.load import CALL_TIMEOUT_S, CallFailed, Target, run_load
from bench.keyvault.spec import (
    DATA_KEY_BYTES,
    TRANSIT_SCENARIOS,
    KvRoundSpec,
    bulk_subject,
    consented_subject,
    finish,
    window,
)
from bench.keyvault.transit import transit_round
from consentry.keyvault.v1 import keyvault_admin_pb2, keyvault_admin_pb2_grpc, keyvault_pb2_grpc
from consentry.keyvault.v1 import keyvault_pb2 as pb

# The benchmark client is an operator: every call about a subject names the controller it acts in,
# the one whose purpose the subjects consented to.
CONTROLLER_ID = CONTROLLER.controller_id


def make_kv_call(spec: KvRoundSpec, channel) -> Callable[[], Awaitable[None]]:
    rng = random.Random(spec.rng_seed)
    stub = keyvault_pb2_grpc.KeyVaultServiceStub(channel)
    if spec.scenario == "generate":
        generate = [pb.GenerateDataKeyRequest(subject_id=consented_subject(i), purpose_id=PURPOSE_ID,
                                             controller_id=CONTROLLER_ID)
                    for i in range(spec.subjects)]

        async def generate_data_key() -> None:
            reply = await stub.GenerateDataKey(rng.choice(generate), timeout=CALL_TIMEOUT_S)
            if len(reply.plaintext_key) != DATA_KEY_BYTES or not reply.wrapped_key:
                raise CallFailed("malformed data key")

        return generate_data_key
    if spec.scenario == "decrypt":
        decrypt = [(pb.DecryptDataKeyRequest(subject_id=s, purpose_id=PURPOSE_ID, wrapped_key=w, controller_id=CONTROLLER_ID), p)
                   for s, w, p in spec.material]

        async def decrypt_data_key() -> None:
            request, plaintext = rng.choice(decrypt)
            reply = await stub.DecryptDataKey(request, timeout=CALL_TIMEOUT_S)
            if reply.plaintext_key != plaintext:
                raise CallFailed("wrong data key")

        return decrypt_data_key
    if spec.scenario == "ensure_bulk":
        numbers = iter(range(spec.total))

        async def ensure_subject_keys() -> None:
            subjects = [bulk_subject(spec.subject_prefix, n) for n in itertools.islice(numbers, spec.batch_size)]
            reply = await stub.EnsureSubjectKeys(pb.EnsureSubjectKeysRequest(subject_ids=subjects, controller_id=CONTROLLER_ID),
                                                 timeout=CALL_TIMEOUT_S * 3)
            if [s.subject_id for s in reply.statuses] != subjects:
                raise CallFailed("statuses do not match the request")
            if any(s.state != pb.KEY_STATE_ACTIVE for s in reply.statuses):
                raise CallFailed("key not ACTIVE")

        return ensure_subject_keys
    if spec.scenario == "shred":
        subjects = (bulk_subject(spec.subject_prefix, n) for n in itertools.count())
        admin = keyvault_admin_pb2_grpc.KeyVaultAdminServiceStub(channel)  # shredding is an operator's action

        async def shred_subject_key() -> None:
            subject = next(subjects)
            reply = await admin.ShredSubjectKey(keyvault_admin_pb2.ShredSubjectKeyRequest(
                subject_id=subject, controller_id=CONTROLLER_ID, request_id=f"bench-dsr-{subject}", reason="benchmark erasure",
                idempotency_key=f"bench-shred-{subject}"), timeout=CALL_TIMEOUT_S)
            # Parsing the certificate is cheap; verifying its signature on every call would load the
            # generator (the tests verify certificates). A subject without a key destroys none.
            if not json.loads(reply.certificate.certificate_json)["keysDestroyed"]:
                raise CallFailed("no key destroyed")

        return shred_subject_key
    raise ValueError(f"unknown keyvault scenario {spec.scenario!r}")


async def _kv_round(spec: KvRoundSpec) -> dict[str, Any]:
    assert spec.target is not None
    async with spec.target.channel() as channel:
        await asyncio.wait_for(channel.channel_ready(), CALL_TIMEOUT_S)
        call = make_kv_call(spec, channel)
        with window(spec) as measured:
            result = await run_load(call, concurrency=spec.concurrency, duration_s=spec.duration_s,
                                    warmup_s=spec.warmup_s, max_calls=spec.max_calls)
    return finish(result, spec, measured)


def run_kv_round(spec: KvRoundSpec) -> dict[str, Any]:
    """Load-generator entry point (runs in its own process): one keyvault or raw transit round."""
    if spec.scenario in TRANSIT_SCENARIOS:
        return transit_round(spec)
    return asyncio.run(_kv_round(spec))


async def _ensure(target: Target, subjects: list[str], batch: int) -> int:
    async with target.channel() as channel:
        stub = keyvault_pb2_grpc.KeyVaultServiceStub(channel)
        active = 0
        for first in range(0, len(subjects), batch):
            reply = await stub.EnsureSubjectKeys(pb.EnsureSubjectKeysRequest(subject_ids=subjects[first:first + batch],
                                                                             controller_id=CONTROLLER_ID),
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
                reply = await stub.GenerateDataKey(pb.GenerateDataKeyRequest(subject_id=subject, purpose_id=PURPOSE_ID,
                                                                             controller_id=CONTROLLER_ID),
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
