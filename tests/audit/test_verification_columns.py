"""VerifyLog reads each entry's time as PostgreSQL formats it; it must be the very string the body
holds, as `timestamp` wrote it, for every time a log can hold."""

from datetime import UTC, datetime

import asyncpg

from services.audit.domain.entry import timestamp
from services.audit.store.log_store import OCCURRED_AT_AS_WRITTEN

TIMES = [datetime(2025, 1, 5, 10, 0, tzinfo=UTC), datetime(2026, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
         datetime(999, 3, 4, 5, 6, 7, 8, tzinfo=UTC), datetime(2024, 2, 29, 0, 0, 0, 1, tzinfo=UTC)]


async def test_postgresql_writes_each_time_as_the_body_does(postgres):
    conn = await asyncpg.connect(postgres.dsn())
    try:
        written = [await conn.fetchval(f"SELECT {OCCURRED_AT_AS_WRITTEN} FROM (SELECT $1::timestamptz AS occurred_at) t",
                                       at) for at in TIMES]
    finally:
        await conn.close()

    assert written == [timestamp(at) for at in TIMES]
