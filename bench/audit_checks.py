"""The audit section's end-of-run behaviour checks, run in the load-generator process after every
round: what a fast log must still do (prove, sign, deduplicate, account for every event, keep
subjects behind their references). Each check can fail; one that errors is recorded as failed and
the others still run."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import grpc
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.audit_scenarios import PRODUCER, TOPIC, envelope, events_of, pool_subject, subject_of
from bench.consent_scenarios import CALL_TIMEOUT_S, Target
from consentry.audit.v1 import audit_pb2 as pb
from consentry.audit.v1 import audit_pb2_grpc
from services.audit.domain import merkle
from services.audit.domain.checkpoint import verify_checkpoint
from services.audit.domain.proofs import verify_inclusion
from services.common.kafka import client_options
from services.common.settings import KafkaSettings

DUPLICATES = 50  # events already in the log (the first of partition 0) delivered a second time
SETTLE_S = 120.0  # how long the ingest log may take to take in the duplicates


@dataclass(frozen=True)
class CheckSpec:
    ingest: Target  # the audit process of the ingest rounds
    proofs: Target  # the audit process serving the large log
    ingest_dsn: str  # both databases as the administrator, to read what the service stored
    proofs_dsn: str
    kafka: KafkaSettings  # the ingest broker, as the client "bench"
    log_size: int
    produced: int  # the highest sequence of PRODUCER on the topic
    subjects: int
    refs: dict[str, str]  # pool subject -> keyvault reference
    rng_seed: int = 0


def _describe(exc: BaseException) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code()}: {exc.details()}"
    return f"{type(exc).__name__}: {exc}"


async def _redeliver(spec: CheckSpec) -> tuple[int, dict[int, int]]:
    """Sends the first DUPLICATES events of partition 0 again, then one new event; returns how many
    were sent again and, per partition written, the offset the sequencer reaches once it read them."""
    consumer = AIOKafkaConsumer(**client_options(spec.kafka), enable_auto_commit=False, client_id="bench-check")
    producer = AIOKafkaProducer(**client_options(spec.kafka), acks="all", client_id="bench-check")
    await consumer.start()
    await producer.start()
    try:
        first = TopicPartition(TOPIC, 0)
        consumer.assign([first])
        await consumer.seek_to_beginning(first)
        again: list[tuple[bytes | None, bytes]] = []
        for _ in range(30):  # a few seconds at most: the first round put thousands of events there
            if len(again) >= DUPLICATES:
                break
            batch = await consumer.getmany(first, timeout_ms=1000, max_records=DUPLICATES - len(again))
            again += [(r.key, r.value) for r in batch.get(first, [])]
        sequence = spec.produced + 1
        subject = subject_of(sequence, spec.subjects)
        sends = [await producer.send(TOPIC, value, key=key) for key, value in again]
        sends.append(await producer.send(TOPIC, envelope(sequence, subject).SerializeToString(), key=subject.encode()))
        ends: dict[int, int] = {}
        for sent in await asyncio.gather(*sends):
            ends[sent.partition] = max(ends.get(sent.partition, 0), sent.offset + 1)
        return len(again), ends
    finally:
        await producer.stop()
        await consumer.stop()


async def _checks(spec: CheckSpec) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    rng = random.Random(spec.rng_seed)

    def record(name: str, ok: bool, detail: str = "") -> None:
        found[name] = {"ok": bool(ok), "detail": detail}

    t = CALL_TIMEOUT_S
    async with spec.ingest.channel() as ingest_channel, spec.proofs.channel() as proofs_channel:
        ingest = audit_pb2_grpc.AuditServiceStub(ingest_channel)
        big = audit_pb2_grpc.AuditServiceStub(proofs_channel)

        async def proof() -> None:
            checkpoint = (await big.GetCheckpoint(pb.GetCheckpointRequest(), timeout=t)).checkpoint
            key = await big.GetPublicKey(pb.GetPublicKeyRequest(), timeout=t)
            signed = verify_checkpoint(key.public_key_pem, checkpoint.note, checkpoint.signature)
            size, root = signed or (0, b"")
            index = rng.randrange(spec.log_size)
            reply = await big.GetInclusionProof(pb.GetInclusionProofRequest(leaf_index=index, tree_size=spec.log_size),
                                                timeout=t)
            conn = await asyncpg.connect(spec.proofs_dsn)
            try:
                body = await conn.fetchval("SELECT body FROM entries WHERE leaf_index = $1", index)
            finally:
                await conn.close()
            hashes = list(reply.hashes)
            record(f"a proof at {spec.log_size:,} entries verifies against the signed checkpoint",
                   signed is not None and size == spec.log_size and key.key_id == checkpoint.key_id
                   and reply.leaf_hash == merkle.leaf_hash(bytes(body))
                   and verify_inclusion(reply.leaf_hash, index, size, hashes, root),
                   f"leaf {index}, {len(hashes)} hashes, checkpoint {size:,} signed by {checkpoint.key_id}")
            k = rng.randrange(len(hashes))
            altered = [*hashes[:k], bytes([hashes[k][0] ^ 1]) + hashes[k][1:], *hashes[k + 1:]]
            record("a proof with one hash altered, or for another leaf, does not verify",
                   not verify_inclusion(reply.leaf_hash, index, size, altered, root)
                   and not verify_inclusion(reply.leaf_hash, (index + 1) % spec.log_size, size, hashes, root), f"hash {k}")
            forged = checkpoint.note.replace(f"\n{size}\n".encode(), f"\n{size + 1}\n".encode())
            record("a checkpoint note with another size does not verify",
                   forged != checkpoint.note and verify_checkpoint(key.public_key_pem, forged, checkpoint.signature) is None)

        async def duplicates() -> None:
            before = (await ingest.GetCheckpoint(pb.GetCheckpointRequest(), timeout=t)).checkpoint.tree_size
            again, ends = await _redeliver(spec)
            conn = await asyncpg.connect(spec.ingest_dsn)
            try:
                began, size, behind = time.monotonic(), before, dict(ends)
                while (size < before + 1 or behind) and time.monotonic() - began < SETTLE_S:
                    await asyncio.sleep(0.2)
                    size = await conn.fetchval("SELECT coalesce(max(tree_size), 0) FROM checkpoints")
                    read = dict(await conn.fetch("SELECT partition, next_offset FROM consumer_offsets"
                                                 " WHERE topic = $1", TOPIC))
                    behind = {p: end for p, end in ends.items() if read.get(p, 0) < end}
            finally:
                await conn.close()
            record("events delivered twice are logged once", again > 0 and size == before + 1 and not behind,
                   f"{again} duplicates and 1 new event: log {before:,} -> {size:,}"
                   + (f"; partitions not read to the end: {behind}" if behind else ""))

        async def complete() -> None:
            reply = await ingest.GetCompleteness(pb.GetCompletenessRequest(), timeout=t)
            mine = [p for p in reply.producers if p.producer == PRODUCER]
            p = mine[0] if mine else pb.ProducerCompleteness()
            expected = spec.produced + 1  # the new event of the duplicates check
            record(f"completeness: {PRODUCER} complete up to its last sequence",
                   (p.complete_up_to, p.highest_seen, p.missing) == (expected, expected, 0),
                   f"complete_up_to {p.complete_up_to:,}, highest_seen {p.highest_seen:,}, missing {p.missing}"
                   f" (sequences 1..{expected:,} published)")

        async def verify() -> None:
            reply = await ingest.VerifyLog(pb.VerifyLogRequest(), timeout=t * 30)
            record("VerifyLog passes on the ingested log",
                   reply.ok and reply.entries_checked == reply.tree_size and reply.checkpoints_checked > 0,
                   f"{reply.entries_checked:,} entries, {reply.checkpoints_checked} checkpoints;"
                   f" problems: {list(reply.problems)[:3]}")

        async def references() -> None:
            index = rng.randrange(spec.subjects)
            subject = pool_subject(index)
            reply = await ingest.QueryEvents(pb.QueryEventsRequest(filter=pb.EventFilter(subject_id=subject),
                                                                   page_size=1000), timeout=t)
            bodies = [e.entry_json for e in reply.entries]
            expected = events_of(index, 1, spec.produced + 1, spec.subjects)
            refs = {json.loads(b)["subjectRef"] for b in bodies}
            record("entries name a subject only by its keyvault reference",
                   len(bodies) == expected and refs == {spec.refs[subject]} and bool(spec.refs[subject])
                   and not any(subject.encode() in b for b in bodies),
                   f"{subject}: {len(bodies)} entries found, {expected} published")

        checks: list[tuple[str, Callable[[], Awaitable[None]]]] = [
            ("proofs", proof), ("duplicates", duplicates), ("completeness", complete), ("VerifyLog", verify),
            ("subject references", references)]
        for name, check in checks:
            try:
                await check()
            except Exception as exc:  # noqa: BLE001 - recorded; the other checks still run
                record(name, False, _describe(exc))
    return found


def audit_checks(spec: CheckSpec) -> dict[str, dict[str, Any]]:
    """Load-generator entry point: the end-of-run behaviour checks of the audit section."""
    return asyncio.run(_checks(spec))
