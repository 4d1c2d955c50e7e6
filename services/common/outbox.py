"""Transactional outbox: events are rows committed with the change they describe.

`add_event` runs inside the caller's transaction. The relay publishes committed rows to Kafka in
sequence order and only then marks them; a broker outage just delays publication. An event about a
person goes out sealed under their event key (services/common/event_keys.py).
"""

import asyncio
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from aiokafka import AIOKafkaProducer
from google.protobuf import any_pb2, timestamp_pb2
from google.protobuf.message import Message

from consentry.events.v1 import envelope_pb2, outbox_pb2
from services.common.db import Statement
from services.common.event_keys import EventKey, EventKeys, seal
from services.common.kafka import stray_cancellation_as_error
from services.common.logging import get_logger

log = get_logger(__name__)

# Not an event: carries no sequence and is never stored; consumers read it as the producer's progress.
WATERMARK_TYPE = "outbox.watermark"
PERSON_SEPARATOR = "\x1f"


@dataclass(frozen=True)
class PendingEvent:
    event_id: uuid.UUID
    event_type: str
    subject_id: str
    payload: Message
    occurred_at: datetime
    # Other people the event names (a guardian): an erasure of any of them redacts the row too.
    others: tuple[str, ...] = ()
    # The controller the subject is a subject of; None: the default controller's (see erasure.py).
    controller_id: str | None = None

    @property
    def persons(self) -> str:
        """Everyone named, as one string for the batch insert (ids never contain the separator)."""
        return PERSON_SEPARATOR.join(p for p in (self.subject_id, *self.others) if p)


async def add_events(conn: asyncpg.Connection, events: list[PendingEvent], traceparents: list[str],
                     along: Callable[[int], Statement] | None = None) -> None:
    """`traceparents`: each event's caller's trace. `along`: another write of the transaction, sent in
    this statement (given the number of its first placeholder): one round trip for both; alone when
    there are no events."""
    if not events:
        if along is not None:
            alone = along(1)
            await conn.execute(alone.sql, *alone.args)
        return
    other = along(10) if along else None
    # One statement for any number of events: a single round trip inside the caller's transaction.
    await conn.execute(
        (f"WITH along AS ({other.sql}) " if other else "") +
        "INSERT INTO outbox (event_id, event_type, subject_id, payload_type, payload, traceparent, occurred_at,"
        " persons, controller_id) SELECT e.event_id, e.event_type, e.subject_id, e.payload_type, e.payload,"
        " e.traceparent, e.occurred_at, coalesce(string_to_array(nullif(e.persons, ''), chr(31)), '{}'),"
        " e.controller_id FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bytea[], $6::text[],"
        " $7::timestamptz[], $8::text[], $9::text[]) AS e(event_id, event_type, subject_id, payload_type, payload,"
        " traceparent, occurred_at, persons, controller_id)",
        [e.event_id for e in events], [e.event_type for e in events], [e.subject_id for e in events],
        [e.payload.DESCRIPTOR.full_name for e in events], [e.payload.SerializeToString() for e in events],
        traceparents, [e.occurred_at for e in events], [e.persons for e in events],
        [e.controller_id for e in events], *(other.args if other else ()),
    )


def envelope_from_row(row: asyncpg.Record, producer: str) -> envelope_pb2.EventEnvelope:
    occurred = timestamp_pb2.Timestamp()
    occurred.FromDatetime(row["occurred_at"])
    payload = any_pb2.Any(
        type_url=f"type.googleapis.com/{row['payload_type']}", value=bytes(row["payload"])
    )
    return envelope_pb2.EventEnvelope(
        event_id=str(row["event_id"]),
        type=row["event_type"],
        producer=producer,
        sequence=row["sequence"],
        occurred_at=occurred,
        subject_id=row["subject_id"],
        controller_id=row["controller_id"] or "",
        traceparent=row["traceparent"],
        payload=payload,
    )


def for_the_broker(envelope: envelope_pb2.EventEnvelope, key: EventKey | None) -> envelope_pb2.EventEnvelope:
    """Sealed under the person's event key; redacted if the person was erased before it went out."""
    if not envelope.subject_id:
        return envelope
    content = envelope_pb2.SealedContent(subject_id=envelope.subject_id, payload=envelope.payload)
    envelope.subject_id = ""
    envelope.ClearField("payload")
    if key is None or key.key is None:
        envelope.payload.Pack(outbox_pb2.Redacted())
        return envelope
    envelope.event_key_id = key.key_id
    envelope.sealed = seal(key, envelope.event_id, content)
    return envelope


class OutboxRelay:
    """Publishes one service's outbox. One relay per database is active at a time (advisory lock)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        event_keys: EventKeys,
        *,
        topic: str,
        producer_name: str,
        batch_size: int = 500,
        idle_interval: float = 0.5,
        max_backoff: float = 5.0,
        watermark_interval: float = 5.0,
    ) -> None:
        self._pool = pool
        self._producer = producer
        self._event_keys = event_keys
        self._topic = topic
        self._name = producer_name
        self._batch_size = batch_size
        self._idle = idle_interval
        self._max_backoff = max_backoff
        self._wakeup = asyncio.Event()
        self._watermark_interval = watermark_interval
        self._watermark_due = 0.0

    def notify(self) -> None:
        """Called after a commit that added events, so they go out without waiting for the poll
        (which only picks up what other replicas committed)."""
        self._wakeup.set()

    async def run(self) -> None:
        backoff = self._idle
        while True:
            try:
                async with self._pool.acquire() as conn:
                    try:
                        with stray_cancellation_as_error():  # the producer's own: an error, retried below
                            await self._lead(conn)
                    except BaseException:
                        # Its session may still hold the leadership lock (an unlock cut short): closing
                        # it is the release that cannot fail, and the pool opens a fresh one.
                        conn.terminate()
                        raise
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker or database away: retry, nothing is marked
                log.warning("outbox relay retrying", error=str(exc), backoff_s=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff)

    async def _lead(self, conn: asyncpg.Connection) -> None:
        lock = zlib.crc32(f"outbox-relay:{self._name}".encode()) & 0x7FFF_FFFF
        while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", lock):  # noqa: ASYNC110 - another replica leads
            await asyncio.sleep(1.0)
        try:
            while True:
                published = await self.publish_once(conn)
                await self._announce_watermark(conn)
                if published < self._batch_size:
                    self._wakeup.clear()
                    try:
                        await asyncio.wait_for(self._wakeup.wait(), self._idle)
                    except TimeoutError:
                        pass
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", lock)

    async def publish_once(self, conn: asyncpg.Connection) -> int:
        """Numbers newly committed rows, then sends every unpublished row in sequence order."""
        await self._assign_sequences(conn)
        rows = await conn.fetch(
            "SELECT * FROM outbox WHERE published_at IS NULL AND sequence IS NOT NULL"
            " ORDER BY sequence LIMIT $1",
            self._batch_size,
        )
        if not rows:
            return 0
        keys = await self._event_keys.for_subjects(
            conn, {(r["controller_id"], r["subject_id"]) for r in rows if r["subject_id"]})
        sends = []
        for row in rows:
            envelope = for_the_broker(envelope_from_row(row, self._name), keys.get((row["controller_id"], row["subject_id"])))
            headers = [
                ("event-id", envelope.event_id.encode()),
                ("event-type", envelope.type.encode()),
                ("traceparent", envelope.traceparent.encode()),
            ]
            sends.append(
                await self._producer.send(
                    self._topic,
                    envelope.SerializeToString(),
                    key=envelope.event_key_id.encode() or None,
                    headers=headers,
                )
            )
        await asyncio.gather(*sends)  # every record acknowledged before any is marked
        await conn.execute(
            "UPDATE outbox SET published_at = now() WHERE sequence = ANY($1::bigint[])",
            [r["sequence"] for r in rows],
        )
        return len(rows)

    async def _announce_watermark(self, conn: asyncpg.Connection) -> None:
        """Now and then, the highest sequence published: lets consumers notice a lost tail."""
        now = asyncio.get_running_loop().time()
        if now < self._watermark_due:
            return
        self._watermark_due = now + self._watermark_interval
        last = await conn.fetchval(
            "SELECT greatest((SELECT max(sequence) FROM outbox WHERE published_at IS NOT NULL),"
            " (SELECT nullif(pruned_through, 0) FROM outbox_sequence))")
        if last is None:
            return
        payload = any_pb2.Any()
        payload.Pack(outbox_pb2.Watermark(last_sequence=last))
        envelope = envelope_pb2.EventEnvelope(event_id=str(uuid.uuid4()), type=WATERMARK_TYPE, producer=self._name,
                                              payload=payload)
        await self._producer.send_and_wait(self._topic, envelope.SerializeToString(),
                                           headers=[("event-type", WATERMARK_TYPE.encode())])

    async def _assign_sequences(self, conn: asyncpg.Connection) -> None:
        # Only the lock-holding relay numbers rows, so the counter needs no row locks of its own.
        async with conn.transaction():
            await conn.execute(
                """
                WITH fresh AS (
                    SELECT id, row_number() OVER (ORDER BY id) AS n FROM outbox
                    WHERE sequence IS NULL ORDER BY id LIMIT $1
                ), counter AS (
                    UPDATE outbox_sequence SET last_value = last_value + (SELECT count(*) FROM fresh)
                    WHERE EXISTS (SELECT FROM fresh)  -- an idle relay writes nothing
                    RETURNING last_value - (SELECT count(*) FROM fresh) AS base
                )
                UPDATE outbox o SET sequence = counter.base + fresh.n
                FROM fresh, counter WHERE o.id = fresh.id
                """,
                self._batch_size * 4,
            )


async def request_replay(pool: asyncpg.Pool, from_sequence: int) -> int:
    """Marks every event from `from_sequence` on as unpublished, so the relay sends it again
    (a consumer found a gap, e.g. after the broker lost its data). Returns how many."""
    result = await pool.execute(
        "UPDATE outbox SET published_at = NULL WHERE sequence >= $1 AND published_at IS NOT NULL",
        from_sequence,
    )
    return int(result.split()[-1])
