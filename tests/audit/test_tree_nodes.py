"""The tree's nodes held in memory for proofs (services/audit/service/tree_nodes.py): every read from
memory equals the store's, however the held prefix grew; memory holds nothing of a log larger than
its bound, and nothing past a node the store lacks; what it holds is answered with the database gone."""

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest

from services.audit.domain import merkle, proofs
from services.audit.service.tree_nodes import TreeNodes
from services.audit.store.log_store import LogStore
from services.common.db import apply_migrations, create_pool, migrations_in
from services.common.uow import UnitsOfWork
from tests.audit.fixtures import OWNER, SERVICE_ROLE, provisioned, role_dsn


def _nodes_of(size: int, first: int = 0) -> list[tuple[int, int, bytes]]:
    """Every perfect subtree over the leaves [0, size) not already complete over [0, first)."""
    level_hashes = [[merkle.leaf_hash(b"entry %d" % i) for i in range(size)]]
    while len(level_hashes[-1]) > 1:
        below = level_hashes[-1]
        level_hashes.append([merkle.node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)])
    return [(level, index, node) for level, hashes in enumerate(level_hashes)
            for index, node in enumerate(hashes) if index >= first >> level]


class _Log:
    """A log's tree as the sequencer stores it: its nodes and a checkpoint per batch."""

    def __init__(self, pool) -> None:
        self.pool, self.size = pool, 0

    async def grow(self, size: int, *, leaving_out: set[tuple[int, int]] = frozenset()) -> None:
        nodes = [n for n in _nodes_of(size, self.size) if n[:2] not in leaving_out]
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.copy_records_to_table("tree_nodes", records=nodes, columns=["level", "node_index", "hash"])
            await conn.execute("INSERT INTO checkpoints (tree_size, root_hash, issued_at, note, signature, key_id)"
                               " VALUES ($1, $2, $3, '', '', 'k')", size, b"r" * 32, datetime.now(UTC))
        self.size = size


@pytest.fixture
async def log(postgres):
    database = await provisioned(postgres, f"tree_nodes_{secrets.token_hex(4)}")
    owner = await create_pool(role_dsn(postgres, database, OWNER), 1, 1)
    try:
        await apply_migrations(owner, migrations_in("services.audit.store"))
    finally:
        await owner.close()
    pool = await create_pool(role_dsn(postgres, database, SERVICE_ROLE), 1, 4)
    yield _Log(pool)
    await pool.close()


def _proof_addresses(size: int) -> list[set[merkle.NodeAddress]]:
    """What every inclusion proof in a tree of `size` leaves, and every consistency proof to it, reads."""
    wanted = [merkle.addresses_for(proofs.inclusion_plan(i, size)) | {(0, i)} for i in range(size)]
    return wanted + [merkle.addresses_for(proofs.consistency_plan(old, size)) for old in range(1, size)]


async def _store_read(log, addresses) -> dict:
    async with log.pool.acquire() as conn:
        return await LogStore(conn).nodes(set(addresses))


@asynccontextmanager
async def _filling(log, max_tree_size: int, step: int = 8) -> AsyncIterator[TreeNodes]:
    """Memory for the log's tree, with its fill running (as the app spawns it) until the block ends."""
    nodes = TreeNodes(UnitsOfWork(log.pool, LogStore), max_tree_size=max_tree_size, step=step)
    filling = asyncio.create_task(nodes.run())
    try:
        yield nodes
    finally:
        filling.cancel()


async def _settled(nodes: TreeNodes, size: int) -> None:
    """Until memory holds `size` leaves' nodes (it announces nothing: polled)."""
    async with asyncio.timeout(10):
        while nodes.covered < size:  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_memory_answers_every_proof_as_the_store_does_as_the_tree_grows(log):
    async with _filling(log, max_tree_size=1000) as nodes:
        for size in (1, 2, 3, 7, 8, 13, 40, 41, 64, 100, 129):  # gaps above and below the step
            await log.grow(size)
            for addresses in _proof_addresses(size):
                assert await nodes.read(size, addresses) == await _store_read(log, addresses)
            await _settled(nodes, size)
        assert nodes.covered == 129
        # Held nodes are answered from memory: with the database gone, an earlier tree still proves.
        await log.pool.close()
        for addresses in _proof_addresses(100):
            assert len(await nodes.read(100, addresses)) == len(addresses)


async def test_memory_follows_each_checkpoint_announced(log):
    async with _filling(log, max_tree_size=1000) as nodes:
        for size in (5, 60, 61):
            await log.grow(size)
            nodes.announced()
            await _settled(nodes, size)


async def test_memory_fills_to_the_latest_size_at_start_and_a_proof_meanwhile_reads_the_store(log):
    await log.grow(300)
    nodes = TreeNodes(UnitsOfWork(log.pool, LogStore), max_tree_size=1000, step=16)
    addresses = merkle.addresses_for(proofs.inclusion_plan(217, 300)) | {(0, 217)}
    assert await nodes.read(300, addresses) == await _store_read(log, addresses)  # nothing held yet
    assert nodes.covered == 0
    filling = asyncio.create_task(nodes.run())
    try:
        await _settled(nodes, 300)
        assert await nodes.read(300, addresses) == await _store_read(log, addresses)
    finally:
        filling.cancel()


async def test_memory_lets_go_of_a_log_that_outgrows_it_and_every_proof_then_reads_the_store(log):
    nodes = TreeNodes(UnitsOfWork(log.pool, LogStore), max_tree_size=50, step=8)
    filling = asyncio.create_task(nodes.run())
    try:
        await log.grow(40)
        nodes.announced()  # as the checkpoint channel does
        await _settled(nodes, 40)
        await log.grow(90)
        nodes.announced()
        async with asyncio.timeout(10):
            await filling
        assert nodes.covered == 0
        for size in (40, 90):
            for addresses in _proof_addresses(size):
                assert await nodes.read(size, addresses) == await _store_read(log, addresses)
        assert nodes.covered == 0
    finally:
        filling.cancel()


async def test_memory_holds_nothing_of_a_log_larger_than_it_at_start(log):
    await log.grow(60)
    nodes = TreeNodes(UnitsOfWork(log.pool, LogStore), max_tree_size=50, step=8)
    async with asyncio.timeout(10):
        await nodes.run()
    addresses = merkle.addresses_for(proofs.inclusion_plan(3, 40)) | {(0, 3)}
    assert await nodes.read(40, addresses) == await _store_read(log, addresses)
    assert nodes.covered == 0


async def test_memory_stops_before_nodes_the_store_lacks(log):
    await log.grow(20)
    await log.grow(30, leaving_out={(1, 12)})  # the parent of leaves 24 and 25 was never stored
    async with _filling(log, max_tree_size=1000) as nodes:
        await _settled(nodes, 20)
        await asyncio.sleep(0.1)
        assert 20 <= nodes.covered < 26  # a tree of 26 leaves is the first with that node
        addresses = merkle.addresses_for(proofs.inclusion_plan(27, 30)) | {(0, 27)}
        answered = await nodes.read(30, addresses)
        assert (1, 12) in addresses and (1, 12) not in answered and answered == await _store_read(log, addresses)
