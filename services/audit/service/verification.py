"""VerifyLog: the whole log re-checked on the server from what PostgreSQL holds. Every body is
hashed again, every stored node is recomputed from the level below, every checkpoint's signature
and root are checked, and the indexed columns must say what the hashed body says (the body between
frames written from its columns; read whole where they do not fit). Tampering done directly in the
database (even as superuser, with the triggers disabled) shows up here.

The work is shared with PostgreSQL, on the other core: two connections reading one snapshot take
the chunks of entries in turn, each reading its next while those before it are hashed and the tree
grown over them, and a third digests each stored level meanwhile, so a level is read out only when
it differs."""

import asyncio
import contextlib
import hashlib
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from services.audit.domain import merkle, proofs
from services.audit.domain.checkpoint import verify_checkpoint
from services.audit.domain.entry import columns_match
from services.audit.service.ports import LogStore, LogUnits

MAX_PROBLEMS = 100
# Hashes or comparisons between yields to the event loop: a VerifyLog of a million entries is seconds
# of CPU, and the proofs and queries served beside it must not wait for all of it.
YIELD_EVERY = 8192
# Entries hashed between reads of what PostgreSQL has sent meanwhile: a socket's buffer holds some
# hundreds of them, and PostgreSQL stops writing the next chunk when it is full.
READ_EVERY = 512
SCAN_CHUNK = 5_000  # entries per query: the first two are read before any work can go beside them


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
        snapshot = await store.export_snapshot()
        digesting = asyncio.ensure_future(_stored_levels(uow, snapshot, size))
        try:
            async with _same_snapshot(uow, snapshot) as other:
                levels = await _tree([store, other], size, verdict)
            stored = await digesting
        finally:
            await _ended(digesting)
        for height, level in enumerate(levels):
            await _compare(store, height, level, stored[height], verdict)
        for checkpoint in checkpoints:
            _check_checkpoint(checkpoint, levels, public_key_pem, verdict)
            verdict.checkpoints_checked += 1
    return verdict


async def _tree(readers: list[LogStore], size: int, verdict: LogVerdict) -> list[list[bytes]]:
    """Every body hashed into its leaf and every level above computed, each as a list in index order.
    The readers take the chunks of entries in turn, each reading its next while those before it are
    worked on, so PostgreSQL writes the frames on as many backends."""
    levels: list[list[bytes]] = [[]]
    unframed: list[int] = []
    starts = iter(range(0, size, SCAN_CHUNK))

    def read(reader: LogStore) -> asyncio.Future | None:
        start = next(starts, None)
        return None if start is None else asyncio.ensure_future(
            reader.entries_in_frames(start, min(start + SCAN_CHUNK, size)))

    reading = deque((reader, read(reader)) for reader in readers)  # in chunk order
    try:
        while (chunk := reading[0][1]) is not None:
            reader, _ = reading.popleft()
            rows = await chunk
            reading.append((reader, read(reader)))
            await _hash_chunk(rows, levels[0], unframed, verdict)
            _grow(levels)
    finally:
        for _, chunk in reading:
            if chunk is not None:
                await _ended(chunk)
    if len(levels[0]) < size:
        verdict.problem(f"entries {len(levels[0])}..{size - 1} are missing")
        levels[0] += [b""] * (size - len(levels[0]))
        _grow(levels)
    await _read_whole(readers[0], unframed, verdict)
    return levels


async def _ended(work: asyncio.Future) -> None:
    """`work` cancelled if still running, then awaited: never left running past the transactions it
    reads in, its error (if any) read rather than left to be reported as never retrieved."""
    work.cancel()
    with contextlib.suppress(BaseException):
        await work


@contextlib.asynccontextmanager
async def _same_snapshot(uow: LogUnits, snapshot: str) -> AsyncIterator[LogStore]:
    """Another read-only unit, reading what the transaction that exported `snapshot` reads."""
    async with uow(isolation="repeatable_read", readonly=True) as beside:
        await beside.store.adopt_snapshot(snapshot)
        yield beside.store


async def _stored_levels(uow: LogUnits, snapshot: str, size: int) -> list[tuple[int, bool, bytes]]:
    """Each stored level's digest (LogStore.level_digest), as of `snapshot`, for the level sizes a tree
    of `size` leaves has: `size` leaves, then half as many parents at each level up to the root (and a
    tree of none, one empty level)."""
    async with _same_snapshot(uow, snapshot) as store:
        return [await store.level_digest(height, size >> height) for height in range(size.bit_length() or 1)]


def _grow(levels: list[list[bytes]]) -> None:
    """Each level above the leaves given the parents whose two children are now there (an odd last
    node has no parent of its own yet)."""
    height = 0
    while len(levels[height]) > 1:
        if height + 1 == len(levels):
            levels.append([])
        above = levels[height + 1]
        above += merkle.parent_hashes(levels[height], 2 * len(above))
        height += 1


async def _hash_chunk(rows: list, leaves: list[bytes], unframed: list[int], verdict: LogVerdict) -> None:
    """Each row (leaf index, body, whether its frames fit) hashed into its leaf, READ_EVERY at a time."""
    for start in range(0, len(rows), READ_EVERY):
        part = rows[start:start + READ_EVERY]
        first = part[0][0]
        if [row[0] for row in part] == list(range(first, first + len(part))):  # each leaf once, none missing
            _missing_before(first, leaves, verdict)
            leaves += merkle.leaf_hashes([row[1] for row in part])
        else:
            for leaf_index, body, _ in part:
                if leaf_index < len(leaves):  # possible only once its key has been dropped
                    verdict.problem(f"entry {leaf_index} is stored more than once")
                    continue
                _missing_before(leaf_index, leaves, verdict)
                leaves.append(merkle.leaf_hash(body))
        unframed += [leaf_index for leaf_index, _, fits in part if not fits]
        await asyncio.sleep(0)
    verdict.entries_checked += len(rows)


def _missing_before(leaf_index: int, leaves: list[bytes], verdict: LogVerdict) -> None:
    """Entries the scan skipped before `leaf_index`: named, and an empty leaf in place of each."""
    if leaf_index != len(leaves):
        verdict.problem(f"entries {len(leaves)}..{leaf_index - 1} are missing")
        leaves += [b""] * (leaf_index - len(leaves))


async def _read_whole(store: LogStore, leaf_indexes: list[int], verdict: LogVerdict) -> None:
    """The entries whose frames did not fit, each body read and compared with its columns."""
    for start in range(0, len(leaf_indexes), SCAN_CHUNK):
        for position, row in enumerate(await store.entries_with_columns(leaf_indexes[start:start + SCAN_CHUNK])):
            if not columns_match(row[1], row[2:]):
                verdict.problem(f"entry {row[0]}: indexed columns differ from the hashed entry")
            if position % YIELD_EVERY == YIELD_EVERY - 1:
                await asyncio.sleep(0)


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
