"""Migrations: each in a transaction of its own, or, marked "-- no transaction", statement by
statement, as CREATE INDEX CONCURRENTLY needs; either is recorded once and never applied again,
and replicas starting together apply each once."""

import asyncio

import asyncpg

from services.common.db import apply_migrations
from tests.support import unique

TABLE = ("0001_table.sql", "CREATE TABLE things (id int PRIMARY KEY, kind text, live boolean)")
INDEX = ("0002_index.sql", "-- no transaction: built CONCURRENTLY\n-- a second line of comment\n"
         "DROP INDEX CONCURRENTLY IF EXISTS things_live;\n"
         "CREATE INDEX CONCURRENTLY things_live ON things (kind)\n    WHERE live\n")


async def test_a_migration_outside_a_transaction_builds_a_valid_index_once_with_replicas_starting_together(postgres):
    name = unique("migrations").replace("-", "_")
    await asyncio.to_thread(postgres.create_database, name)
    pools = [await asyncpg.create_pool(postgres.dsn(name), min_size=1, max_size=1) for _ in range(3)]
    try:
        applied = await asyncio.gather(*(apply_migrations(pool, [TABLE, INDEX]) for pool in pools))
        again = await apply_migrations(pools[0], [TABLE, INDEX])
        valid = await pools[0].fetchval("SELECT indisvalid FROM pg_index WHERE indexrelid = 'things_live'::regclass")
        predicate = await pools[0].fetchval("SELECT pg_get_expr(indpred, indrelid) FROM pg_index"
                                            " WHERE indexrelid = 'things_live'::regclass")
        recorded = await pools[0].fetchval("SELECT count(*) FROM schema_migrations")
    finally:
        for pool in pools:
            await pool.close()

    assert sorted(map(len, applied)) == [0, 0, 2] and again == []  # one replica applied both, once
    assert valid is True and predicate == "live" and recorded == 2
