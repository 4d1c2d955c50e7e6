"""How long an outbox keeps what it published, and what an erasure leaves of it.

A published row stays until two things hold: the audit log has it (audit acknowledges each
producer's complete prefix on the replay topic) and the retention has passed, so a consumer that
lost events can still have them published again meanwhile. An erasure does not wait: every row
naming the person is redacted at once, keeping its sequence and type, so a replay never publishes
the person again and consumers still see every sequence."""

from datetime import timedelta

import asyncpg

from consentry.events.v1 import outbox_pb2

REDACTED_TYPE = outbox_pb2.Redacted.DESCRIPTOR.full_name


async def redact_persons(conn: asyncpg.Connection, person_ids: list[str], controller_id: str | None = None) -> int:
    """Inside the erasure's transaction; returns how many rows named one of the people as subjects of
    the controller (and rows of no known controller: redacting too much is safe, too little is not).
    Events the erasure itself emits are added after this and name them until published and pruned."""
    result = await conn.execute(
        "UPDATE outbox SET subject_id = '', persons = '{}', payload_type = $2, payload = ''::bytea"
        " WHERE persons && $1::text[] AND ($3::text IS NULL OR controller_id IS NULL OR controller_id = $3)",
        person_ids, REDACTED_TYPE, controller_id)
    return int(result.split()[-1])


async def acknowledge(pool: asyncpg.Pool, complete_up_to: int) -> None:
    """The audit log has every event up to this sequence (never moves back)."""
    await pool.execute("UPDATE outbox_sequence SET acknowledged_through = $1 WHERE acknowledged_through < $1",
                       complete_up_to)  # no write when it would not move


async def prune(conn: asyncpg.Connection, retention: timedelta, batch: int = 5000) -> int:
    """Deletes published, acknowledged rows older than the retention; returns how many."""
    async with conn.transaction():
        pruned = await conn.fetchval(
            "WITH gone AS (DELETE FROM outbox WHERE id IN ("
            "  SELECT o.id FROM outbox o, outbox_sequence s WHERE o.published_at IS NOT NULL"
            "  AND o.sequence <= s.acknowledged_through AND o.published_at < now() - $1::interval"
            "  ORDER BY o.sequence LIMIT $2) RETURNING sequence)"
            " UPDATE outbox_sequence SET pruned_through = greatest(pruned_through, (SELECT max(sequence) FROM gone))"
            " WHERE EXISTS (SELECT 1 FROM gone) RETURNING (SELECT count(*) FROM gone)",
            retention, batch)
    return pruned or 0
