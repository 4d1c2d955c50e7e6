"""VerifyLog: the whole log re-checked on the server from what PostgreSQL holds. Every body is
hashed again, every stored node is recomputed from the level below, every checkpoint's signature
and root are checked, and the indexed columns must say what the hashed body says. Tampering done
directly in the database (even as superuser, with the triggers disabled) shows up here."""

import asyncio
from dataclasses import dataclass, field

from services.audit.domain import merkle, proofs
from services.audit.domain.checkpoint import verify_checkpoint
from services.audit.domain.entry import StoredEntry, indexed_fields
from services.audit.service.ports import LogStore, LogUnits

MAX_PROBLEMS = 100
# Hashes or comparisons between yields to the event loop: a VerifyLog of a million entries is seconds
# of CPU, and the proofs and queries served beside it must not wait for all of it.
YIELD_EVERY = 8192


@dataclass
class LogVerdict:
    tree_size: int = 0
    entries_checked: int = 0
    checkpoints_checked: int = 0
    problems: list[str] = field(default_factory=list)

    def problem(self, text: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(text)


def _columns_match(entry: StoredEntry) -> bool:
    try:
        return indexed_fields(entry.body) == entry.indexed
    except (ValueError, KeyError):
        return False


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
        while len(level) > 1:
            level = await _parents(level)
            height += 1
            stored = await store.scan_nodes(height, len(level))
            await _compare(height, level, stored, verdict)
            stored_levels[height] = level
        for checkpoint in checkpoints:
            _check_checkpoint(checkpoint, stored_levels, public_key_pem, verdict)
            verdict.checkpoints_checked += 1
    return verdict


async def _leaves(store: LogStore, size: int, verdict: LogVerdict) -> list[bytes]:
    leaves: list[bytes] = []
    async for entry in store.scan(size):
        if entry.leaf_index != len(leaves):
            verdict.problem(f"entry {len(leaves)} is missing")
            leaves.append(b"")
        leaves.append(merkle.leaf_hash(entry.body))
        if not _columns_match(entry):
            verdict.problem(f"entry {entry.leaf_index}: indexed columns differ from the hashed entry")
        verdict.entries_checked += 1
    if len(leaves) < size:
        verdict.problem(f"entries {len(leaves)}..{size - 1} are missing")
    await _compare(0, leaves, await store.scan_nodes(0, size), verdict)
    return leaves


async def _parents(level: list[bytes]) -> list[bytes]:
    """The level above (an odd last node has no parent of its own yet), computed in slices."""
    parents: list[bytes] = []
    last = len(level) - 1
    for start in range(0, last, 2 * YIELD_EVERY):
        parents += [merkle.node_hash(level[i], level[i + 1]) for i in range(start, min(start + 2 * YIELD_EVERY, last), 2)]
        await asyncio.sleep(0)
    return parents


async def _compare(level: int, computed: list[bytes], stored: list[tuple[int, bytes]], verdict: LogVerdict) -> None:
    found = dict(stored)
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
