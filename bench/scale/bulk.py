"""Bulk loading into a service's own tables: one INSERT ... SELECT over generate_series per chunk of
rows, chunks spread over as many connections as the machine has cores, as the superuser with
`session_replication_role = replica` (no per-statement triggers: a statement trigger with a
transition table would copy every loaded row once more, and the service is stopped while we load,
so there is nobody to notify)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from typing import Any

import asyncpg

CHUNK = 250_000  # rows per statement: small enough that both connections stay busy to the end
# A chunk's generated rows pass through a CTE (RETURNING feeds the second table): in memory, not spilled.
WORK_MEM = "512MB"


async def _chunks(dsn: str, sql: str, first: int, end: int, args: Sequence[Any], workers: int,
                  setup: Sequence[str]) -> None:
    starts = iter(range(first, end, CHUNK))

    async def worker() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute("SET session_replication_role = replica")
            await conn.execute(f"SET work_mem = '{WORK_MEM}'")
            for statement in setup:
                await conn.execute(statement)
            for start in starts:
                await conn.execute(sql, start, min(start + CHUNK, end) - 1, *args)
        finally:
            await conn.close()

    await asyncio.gather(*(worker() for _ in range(workers)))


def load(dsn: str, sql: str, first: int, end: int, *args: Any, setup: Sequence[str] = ()) -> float:
    """Runs `sql` for rows first..end-1 in chunks ($1 and $2: a chunk's first and last row, then
    `args`), each connection after its `setup` statements (e.g. the template copied into a TEMP table:
    a chunk must not read the table it grows, whose statistics are those of before the load, as
    autovacuum is paused); returns the seconds it took."""
    began = time.perf_counter()
    if end > first:
        workers = max(1, min(len(os.sched_getaffinity(0)), 4))
        asyncio.run(_chunks(dsn, sql, first, end, args, workers, setup))
    return time.perf_counter() - began


async def _statements(dsn: str, statements: Sequence[str]) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def pause(dsn: str, tables: Sequence[str], indexes: Sequence[str] = ()) -> list[str]:
    """Before a load: no autovacuum on `tables` (it would scan them over and over as they grow), and
    `indexes` dropped (those whose keys do not grow with the load's order: inserting into them costs a
    random page each, building them afterwards one sort). Returns what `resume` runs afterwards: each
    index from its own definition, autovacuum as the table had it."""
    async def paused() -> list[str]:
        conn = await asyncpg.connect(dsn)
        try:
            restore = [await conn.fetchval("SELECT pg_get_indexdef($1::regclass)", name) for name in indexes]
            for name in indexes:
                await conn.execute(f"DROP INDEX {name}")
            for table in tables:
                await conn.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
                restore.append(f"ALTER TABLE {table} RESET (autovacuum_enabled)")
            return restore
        finally:
            await conn.close()

    return asyncio.run(paused())


def resume(dsn: str, restore: Sequence[str]) -> float:
    """`pause`'s statements, with memory for the index builds; the seconds they took."""
    return run(dsn, "SET maintenance_work_mem = '1GB'", *restore)


def flush(dsn: str) -> float:
    """A checkpoint, then the OS's dirty pages written out, so that the rounds after a load do not
    share the disk (and the CPU) with its writeback; the seconds it took."""
    began = time.perf_counter()
    asyncio.run(_statements(dsn, ["CHECKPOINT"]))
    os.sync()
    return time.perf_counter() - began


def run(dsn: str, *statements: str) -> float:
    """Plain statements one after another (VACUUM ANALYZE, an index); the seconds they took."""
    began = time.perf_counter()
    asyncio.run(_statements(dsn, statements))
    return time.perf_counter() - began
