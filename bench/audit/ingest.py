"""Sustained ingest, in the load-generator process: the round's events are produced onto the topic
first (not timed), then consumed into a log, timed from the moment the consumer may start to the
moment the last event is durable.

- The audit service (`ingest`): its process was stopped (SIGSTOP) while the events were produced; the
  clock starts when it is resumed (SIGCONT) and stops when a checkpoint covering every event of the
  round is committed (polled from the checkpoints table), so the round measures the sequencer with
  a backlog, without its start-up.
- The baseline (`naive`): one consumer, the same events, one transaction per event that reads the
  previous row's hash and inserts the event with sha256(previous hash || event bytes): a per-row hash
  chain, in its own table of the same PostgreSQL. Its consumer is connected and positioned before
  the clock starts.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import time
import uuid
from collections import Counter
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.audit.events import PRODUCER, AuditRoundSpec, envelope, pool_subject, subject_of
from bench.common.consents import CONTROLLER
from bench.common.cpu import cores_between, snapshot
from bench.common.load import CALL_TIMEOUT_S, KafkaClient, Target
from consentry.audit.v1 import audit_pb2, audit_pb2_grpc
from consentry.events.v1 import envelope_pb2
from consentry.keyvault.v1 import keyvault_pb2 as kpb
from consentry.keyvault.v1 import keyvault_pb2_grpc

NAIVE_TABLE = """CREATE TABLE IF NOT EXISTS naive_log (
    id        bigserial PRIMARY KEY,
    event_id  uuid  NOT NULL UNIQUE,
    body      bytea NOT NULL,
    hash      bytea NOT NULL
)"""
POLL_S = 0.01  # how often the ingest round looks for the checkpoint that covers the round
FETCH_BYTES = 4 * 1024 * 1024  # per partition, as the audit service's consumer fetches
PRODUCE_CHUNK = 10_000  # events sent before their acknowledgements are awaited


async def _produce(kafka: KafkaClient, topic: str, first_sequence: int, count: int, subjects: int,
                   producer_name: str) -> dict[str, Any]:
    producer = AIOKafkaProducer(**kafka.options(), acks="all", linger_ms=5, client_id="bench-audit")
    await producer.start()
    began = time.perf_counter()
    offsets: dict[int, tuple[int, int]] = {}  # partition -> (first offset, end offset)
    try:
        last = first_sequence + count
        for chunk in range(first_sequence, last, PRODUCE_CHUNK):  # bounded memory for a log of a million
            pending = []
            for sequence in range(chunk, min(chunk + PRODUCE_CHUNK, last)):
                subject = subject_of(sequence, subjects)
                event = envelope(sequence, subject, producer_name)
                pending.append(await producer.send(topic, event.SerializeToString(), key=subject.encode()))
            for sent in await asyncio.gather(*pending):
                first, end = offsets.get(sent.partition, (sent.offset, sent.offset + 1))
                offsets[sent.partition] = (min(first, sent.offset), max(end, sent.offset + 1))
    finally:
        await producer.stop()
    return {"ranges": tuple((p, first, end) for p, (first, end) in sorted(offsets.items())),
            "seconds": time.perf_counter() - began}


def produce(kafka: KafkaClient, topic: str, first_sequence: int, count: int, subjects: int,
            producer_name: str = PRODUCER) -> dict[str, Any]:
    """Load-generator entry point: `count` events with sequences from `first_sequence` on, acks=all, onto
    the broker `kafka` reaches (as the client "bench"); returns the offsets they took per partition
    and the seconds it took (not a benchmark figure)."""
    return asyncio.run(_produce(kafka, topic, first_sequence, count, subjects, producer_name))


async def _refs(target: Target, subjects: list[str], create: bool) -> dict[str, str]:
    async with target.channel() as channel:
        stub = keyvault_pb2_grpc.KeyVaultServiceStub(channel)
        found: dict[str, str] = {}
        for first in range(0, len(subjects), 1000):  # GetSubjectRefs' limit per call
            reply = await stub.GetSubjectRefs(kpb.GetSubjectRefsRequest(
                subject_ids=subjects[first:first + 1000], create_missing=create, controller_id=CONTROLLER.controller_id),
                timeout=CALL_TIMEOUT_S * 3)
            found.update({r.subject_id: r.subject_ref for r in reply.refs})
        return found


def subject_refs(target: Target, subjects: int, create: bool = True) -> dict[str, str]:
    """Load-generator entry point: the keyvault's reference of every pool subject (with `create`, keys
    are made for those that have none, as the audit service asks)."""
    return asyncio.run(_refs(target, [pool_subject(i) for i in range(subjects)], create))


async def _public_key(target: Target) -> str:
    async with target.channel() as channel:
        return (await audit_pb2_grpc.AuditServiceStub(channel).GetPublicKey(audit_pb2.GetPublicKeyRequest(),
                                                                           timeout=CALL_TIMEOUT_S)).public_key_pem


def public_key(target: Target) -> str:
    """Load-generator entry point: the audit service's checkpoint key (PEM), as GetPublicKey gives it."""
    return asyncio.run(_public_key(target))


async def append_naive(conn: asyncpg.Connection, value: bytes) -> None:
    """The baseline's whole work for one event."""
    event_id = uuid.UUID(envelope_pb2.EventEnvelope.FromString(value).event_id)
    async with conn.transaction():
        previous = await conn.fetchval("SELECT hash FROM naive_log ORDER BY id DESC LIMIT 1")
        chained = hashlib.sha256((previous or b"") + value).digest()
        await conn.execute("INSERT INTO naive_log (event_id, body, hash) VALUES ($1, $2, $3)"
                           " ON CONFLICT (event_id) DO NOTHING", event_id, value, chained)


def _result(events: int, seconds: float, cpu: dict[str, float], errors: Counter[str], **extra: Any) -> dict[str, Any]:
    nan = float("nan")
    return {"rps": events / seconds if seconds > 0 else 0.0, "p50_ms": nan, "p90_ms": nan, "p99_ms": nan,
            "calls": events, "events": events, "seconds": seconds, "errors": dict(errors), "cpu_cores": cpu,
            "concurrency": 1, **extra}


async def _naive(spec: AuditRoundSpec) -> dict[str, Any]:
    errors: Counter[str] = Counter()
    conn = await asyncpg.connect(spec.dsn)
    assert spec.kafka is not None
    consumer = AIOKafkaConsumer(**spec.kafka.options(), enable_auto_commit=False, client_id="bench-naive",
                                auto_offset_reset="earliest", max_partition_fetch_bytes=FETCH_BYTES)
    await consumer.start()
    try:
        ends = {TopicPartition(spec.topic, p): end for p, _, end in spec.ranges}
        consumer.assign(list(ends))
        for p, first, _ in spec.ranges:
            consumer.seek(TopicPartition(spec.topic, p), first)
        rows_before = await conn.fetchval("SELECT count(*) FROM naive_log")
        before, began = snapshot(spec.cpu_roots), time.perf_counter()
        pending, consumed = set(ends), 0
        while pending:
            if time.perf_counter() - began > spec.max_s:
                errors["timed out"] += 1
                break
            batch = await consumer.getmany(*pending, timeout_ms=100, max_records=500)
            for tp, records in batch.items():
                for record in records:
                    if record.offset < ends[tp]:
                        await append_naive(conn, record.value)
                        consumed += 1
                if records and records[-1].offset + 1 >= ends[tp]:
                    pending.discard(tp)
        seconds = time.perf_counter() - began
        cpu = cores_between(before, snapshot(spec.cpu_roots))
        stored = await conn.fetchval("SELECT count(*) FROM naive_log") - rows_before
    finally:
        await consumer.stop()
        await conn.close()
    if stored != spec.events:
        errors[f"{stored} of {spec.events} events stored"] += 1
    return _result(spec.events, seconds, cpu, errors, consumed=consumed)


async def _ingest(spec: AuditRoundSpec) -> dict[str, Any]:
    errors: Counter[str] = Counter()
    goal = spec.from_size + spec.events
    conn = await asyncpg.connect(spec.dsn)
    try:
        before, began = snapshot(spec.cpu_roots), time.perf_counter()
        os.kill(spec.audit_pid, signal.SIGCONT)
        size = spec.from_size
        while size < goal:
            if time.perf_counter() - began > spec.max_s:
                errors["timed out"] += 1
                break
            await asyncio.sleep(POLL_S)
            size = await conn.fetchval("SELECT coalesce(max(tree_size), 0) FROM checkpoints")
        seconds = time.perf_counter() - began
        cpu = cores_between(before, snapshot(spec.cpu_roots))
        checkpoints = await conn.fetchval("SELECT count(*) FROM checkpoints WHERE tree_size > $1", spec.from_size)
    finally:
        await conn.close()
    if size != goal:
        errors[f"log grew by {size - spec.from_size}, expected {spec.events}"] += 1
    return _result(spec.events, seconds, cpu, errors, tree_size=size, checkpoints=checkpoints,
                   events_per_checkpoint=(size - spec.from_size) / checkpoints if checkpoints else float("nan"))


def run_ingest(spec: AuditRoundSpec) -> dict[str, Any]:
    return asyncio.run(_naive(spec) if spec.scenario == "naive" else _ingest(spec))
