"""What every producer keeps only for a while: published outbox rows once the audit log has them
and their retention passed, idempotency records after their TTL. Nothing else goes."""

import uuid
from datetime import timedelta

from services.common.outbox_retention import acknowledge
from services.common.retention import forget_idempotency, prune_outbox
from tests.support import unique

HOUR = timedelta(hours=1)


async def _outbox_row(pool, sequence: int, published_ago: timedelta | None) -> None:
    await pool.execute(
        "INSERT INTO outbox (event_id, event_type, payload_type, payload, occurred_at, sequence, published_at)"
        " VALUES ($1, 'test.event', 'test.Payload', '', now(), $2, now() - $3::interval)",
        uuid.uuid4(), sequence, published_ago)


async def test_an_idempotency_record_is_forgotten_after_its_ttl_only(dsr_pool):
    old, fresh = unique("old"), unique("fresh")
    await dsr_pool.executemany(
        "INSERT INTO idempotency (client_id, method, idem_key, request_hash, response, created_at)"
        " VALUES ($1, 'Grant', 'k', '', 'receipt', now() - $2::interval)", [(old, 2 * HOUR), (fresh, timedelta(0))])

    forgotten = await forget_idempotency(dsr_pool, HOUR)

    left = {r["client_id"] for r in await dsr_pool.fetch("SELECT client_id FROM idempotency")}
    assert forgotten == 1 and left == {fresh}


async def test_a_published_row_goes_once_acknowledged_and_past_its_retention(dsr_pool):
    await _outbox_row(dsr_pool, 1, 2 * HOUR)  # acknowledged, old: goes
    await _outbox_row(dsr_pool, 2, timedelta(0))  # acknowledged, recent: a replay may still want it
    await _outbox_row(dsr_pool, 3, 2 * HOUR)  # old, but not in the audit log yet
    await _outbox_row(dsr_pool, 4, None)  # not even published
    await dsr_pool.execute("UPDATE outbox_sequence SET acknowledged_through = 2, last_value = 4")

    pruned = await prune_outbox(dsr_pool, HOUR)

    left = [r["sequence"] for r in await dsr_pool.fetch("SELECT sequence FROM outbox ORDER BY sequence")]
    assert pruned == 1 and left == [2, 3, 4]
    assert await dsr_pool.fetchval("SELECT pruned_through FROM outbox_sequence") == 1


async def test_an_acknowledgement_writes_only_when_it_moves(dsr_pool):
    version = "SELECT xmin::text, acknowledged_through FROM outbox_sequence"
    await acknowledge(dsr_pool, 7)
    moved = await dsr_pool.fetchrow(version)
    assert moved["acknowledged_through"] == 7

    await acknowledge(dsr_pool, 7)  # audit repeats it every 30 s
    await acknowledge(dsr_pool, 3)  # never moves back
    assert await dsr_pool.fetchrow(version) == moved  # the same row version: not rewritten

    await acknowledge(dsr_pool, 9)
    assert (await dsr_pool.fetchrow(version))["acknowledged_through"] == 9
