"""VerifyLog: the whole log re-checked on the server from what PostgreSQL holds. Every body is
hashed again, every stored node is recomputed from the level below, every checkpoint's signature
and root are checked, and the indexed columns must say what the hashed body says (the body between
frames written from its columns; read whole where they do not fit). Tampering done directly in the
database (even as superuser, with the triggers disabled) shows up here.

The work is shared with PostgreSQL, on its own core: it reads the next chunk of entries while this
one is hashed and the tree grown over it, and digests each stored level, so a level is read out only
when it differs."""

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field

from services.audit.domain import merkle, proofs
from services.audit.domain.checkpoint import verify_checkpoint
from services.audit.domain.entry import columns_match, frames_fit
from services.audit.service.ports import LogStore, LogUnits

MAX_PROBLEMS = 100
# Hashes or comparisons between yields to the event loop: a VerifyLog of a million entries is seconds
# of CPU, and the proofs and queries served beside it must not wait for all of it.
YIELD_EVERY = 8192
# Entries hashed between reads of what PostgreSQL has sent meanwhile: a socket's buffer holds some
# hundreds of them, and PostgreSQL stops writing the next chunk when it is full.
READ_EVERY = 512
SCAN_CHUNK = 5_000  # entries per query: the first is read before any work can go beside it


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
        levels = await _tree(store, size, verdict)
        for height, level in enumerate(levels):
            await _compare(store, height, level, await store.level_digest(height, len(level)), verdict)
        for checkpoint in checkpoints:
            _check_checkpoint(checkpoint, levels, public_key_pem, verdict)
            verdict.checkpoints_checked += 1
    return verdict


async def _tree(store: LogStore, size: int, verdict: LogVerdict) -> list[list[bytes]]:
    """Every body hashed into its leaf and every level above computed, each as a list in index order;
    each chunk of entries is read while the one before is worked on."""
    levels: list[list[bytes]] = [[]]
    unframed: list[int] = []
    rows = await store.entries_in_frames(-1, size, SCAN_CHUNK)
    while rows:
        following = store.entries_in_frames(rows[-1][0], size, SCAN_CHUNK) if len(rows) == SCAN_CHUNK else None
        async with _beside(following) as read:
            await _hash_chunk(rows, levels[0], unframed, verdict)
            _grow(levels)
            rows = await read if read is not None else []
    if len(levels[0]) < size:
        verdict.problem(f"entries {len(levels[0])}..{size - 1} are missing")
        levels[0] += [b""] * (size - len(levels[0]))
        _grow(levels)
    await _read_whole(store, unframed, verdict)
    return levels


def _grow(levels: list[list[bytes]]) -> None:
    """Each level above the leaves given the parents whose two children are now there (an odd last
    node has no parent of its own yet)."""
    height = 0
    while len(levels[height]) > 1:
        if height + 1 == len(levels):
            levels.append([])
        below, above = levels[height], levels[height + 1]
        above += [merkle.node_hash(below[i], below[i + 1]) for i in range(2 * len(above), len(below) - 1, 2)]
        height += 1


async def _hash_chunk(rows: list, leaves: list[bytes], unframed: list[int], verdict: LogVerdict) -> None:
    for position, (leaf_index, body, head, tail) in enumerate(rows):
        if leaf_index != len(leaves):
            verdict.problem(f"entries {len(leaves)}..{leaf_index - 1} are missing")
            leaves += [b""] * (leaf_index - len(leaves))
        leaves.append(merkle.leaf_hash(body))
        if not frames_fit(body, head, tail):
            unframed.append(leaf_index)
        if position % READ_EVERY == READ_EVERY - 1:
            await asyncio.sleep(0)
    verdict.entries_checked += len(rows)


async def _read_whole(store: LogStore, leaf_indexes: list[int], verdict: LogVerdict) -> None:
    """The entries whose frames did not fit, each body read and compared with its columns."""
    for start in range(0, len(leaf_indexes), SCAN_CHUNK):
        for position, row in enumerate(await store.entries_with_columns(leaf_indexes[start:start + SCAN_CHUNK])):
            if not columns_match(row[1], row[2:]):
                verdict.problem(f"entry {row[0]}: indexed columns differ from the hashed entry")
            if position % YIELD_EVERY == YIELD_EVERY - 1:
                await asyncio.sleep(0)


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


def _check_checkpoint(checkpoint, levels: list[list[bytes]], public_key_pem: str, verdict: LogVerdict) -> None:
    signed = verify_checkpoint(public_key_pem, checkpoint.note, checkpoint.signature)
    if signed is None or signed != (checkpoint.tree_size, checkpoint.root_hash):
        verdict.problem(f"checkpoint {checkpoint.tree_size}: signature or note does not match")
        return
    plan = proofs.root_plan(checkpoint.tree_size)
    nodes = {(lvl, i): levels[lvl][i] for lvl, i in merkle.addresses_for(plan)
             if lvl < len(levels) and i < len(levels[lvl])}
    try:
        root = merkle.hashes_for(plan, nodes)[0]
    except KeyError:
        root = None
    if root != checkpoint.root_hash:
        verdict.problem(f"checkpoint {checkpoint.tree_size}: root differs from the entries")
