"""VerifyLog: the whole log re-checked on the server from what PostgreSQL holds. Every body is
hashed again, every stored node is recomputed from the level below, every checkpoint's signature
and root are checked, and the indexed columns must say what the hashed body says. Tampering done
directly in the database (even as superuser, with the triggers disabled) shows up here.

The work is shared with PostgreSQL, on its own core: it reads the next chunk of entries while this
one is hashed, and digests each stored level while the next is computed here, so a level is read
out only when it differs."""

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field

from services.audit.domain import merkle, proofs
from services.audit.domain.checkpoint import verify_checkpoint
from services.audit.domain.entry import columns_match
from services.audit.service.ports import LogStore, LogUnits

MAX_PROBLEMS = 100
# Hashes or comparisons between yields to the event loop: a VerifyLog of a million entries is seconds
# of CPU, and the proofs and queries served beside it must not wait for all of it.
YIELD_EVERY = 8192
SCAN_CHUNK = 20_000  # entries per query


@dataclass
class LogVerdict:
    tree_size: int = 0
    entries_checked: int = 0
    checkpoints_checked: int = 0
    problems: list[str] = field(default_factory=list)

    def problem(self, text: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(text)


async def verify_log(uow: LogUnits, public_key_pem: str) -> LogVerdict:
    verdict = LogVerdict()
    async with uow(isolation="repeatable_read", readonly=True) as work:  # one snapshot of the whole log
        store = work.store
        checkpoints = await store.checkpoints()
        if not checkpoints:
            return verdict
        size = verdict.tree_size = checkpoints[-1].tree_size
        level = await _leaves(store, size, verdict)
        stored_levels = {0: level}
        height = 0
        while True:
            # PostgreSQL digests the stored level while the level above is computed here.
            async with _beside(store.level_digest(height, len(level))) as stored:
                above = await _parents(level) if len(level) > 1 else None
                await _compare(store, height, level, await stored, verdict)
            if above is None:
                break
            height, level = height + 1, above
            stored_levels[height] = level
        for checkpoint in checkpoints:
            _check_checkpoint(checkpoint, stored_levels, public_key_pem, verdict)
            verdict.checkpoints_checked += 1
    return verdict


async def _leaves(store: LogStore, size: int, verdict: LogVerdict) -> list[bytes]:
    """Every body hashed into its leaf, in leaf order; each chunk is read while the one before is hashed."""
    leaves: list[bytes] = []
    rows = await store.entries_with_columns(-1, size, SCAN_CHUNK)
    while rows:
        following = store.entries_with_columns(rows[-1][0], size, SCAN_CHUNK) if len(rows) == SCAN_CHUNK else None
        async with _beside(following) as read:
            await _hash_chunk(rows, leaves, verdict)
            rows = await read if read is not None else []
    if len(leaves) < size:
        verdict.problem(f"entries {len(leaves)}..{size - 1} are missing")
        leaves += [b""] * (size - len(leaves))
    return leaves


async def _hash_chunk(rows: list, leaves: list[bytes], verdict: LogVerdict) -> None:
    for position, row in enumerate(rows):
        leaf_index, body = row[0], row[1]
        if leaf_index != len(leaves):
            verdict.problem(f"entries {len(leaves)}..{leaf_index - 1} are missing")
            leaves += [b""] * (leaf_index - len(leaves))
        leaves.append(merkle.leaf_hash(body))
        if not columns_match(body, row[2:]):
            verdict.problem(f"entry {leaf_index}: indexed columns differ from the hashed entry")
        if position % YIELD_EVERY == YIELD_EVERY - 1:
            await asyncio.sleep(0)
    verdict.entries_checked += len(rows)


@contextlib.asynccontextmanager
async def _beside(query: Coroutine | None) -> AsyncIterator[asyncio.Future | None]:
    """`query` under way on the connection while the block works; never left running past it (the
    connection takes one query at a time, and the transaction must end cleanly whatever happened)."""
    if query is None:
        yield None
        return
    running = asyncio.ensure_future(query)
    await asyncio.sleep(0)  # it leaves now
    try:
        yield running
    finally:
        if not running.done():
            running.cancel()
        with contextlib.suppress(BaseException):
            await running


async def _parents(level: list[bytes]) -> list[bytes]:
    """The level above (an odd last node has no parent of its own yet), computed in slices."""
    parents: list[bytes] = []
    last = len(level) - 1
    for start in range(0, last, 2 * YIELD_EVERY):
        parents += [merkle.node_hash(level[i], level[i + 1]) for i in range(start, min(start + 2 * YIELD_EVERY, last), 2)]
        await asyncio.sleep(0)
    return parents


async def _compare(store: LogStore, level: int, computed: list[bytes], stored: tuple[int, bool, bytes],
                   verdict: LogVerdict) -> None:
    """The stored level against the computed one: whole, by digest, when the store holds exactly one
    32-byte hash at each index (so equal joins mean equal nodes); node by node otherwise."""
    if stored == (len(computed), True, hashlib.sha256(b"".join(computed)).digest()):
        return
    found = dict(await store.scan_nodes(level, len(computed)))
    for index, value in enumerate(computed):
        if found.get(index) != value:
            verdict.problem(f"tree node {level}/{index} differs from the entries below it")
        if index % YIELD_EVERY == YIELD_EVERY - 1:
            await asyncio.sleep(0)


def _check_checkpoint(checkpoint, levels: dict[int, list[bytes]], public_key_pem: str, verdict: LogVerdict) -> None:
    signed = verify_checkpoint(public_key_pem, checkpoint.note, checkpoint.signature)
    if signed is None or signed != (checkpoint.tree_size, checkpoint.root_hash):
        verdict.problem(f"checkpoint {checkpoint.tree_size}: signature or note does not match")
        return
    plan = proofs.root_plan(checkpoint.tree_size)
    nodes = {(lvl, i): levels[lvl][i] for lvl, i in merkle.addresses_for(plan)
             if lvl in levels and i < len(levels[lvl])}
    try:
        root = merkle.hashes_for(plan, nodes)[0]
    except KeyError:
        root = None
    if root != checkpoint.root_hash:
        verdict.problem(f"checkpoint {checkpoint.tree_size}: root differs from the entries")
