"""A large audit log, built quickly for the proof and VerifyLog rounds (load-generator entry point).

Built with the service's own code paths, in the real schema (migrations applied as the schema
owner, rows written as the service's insert-only role): each event decoded from an envelope as the
sequencer decodes it, `Entry.of` with the subject's keyvault reference, leaf hashes appended to a
`merkle.Frontier`, and per chunk of the sequencer's batch size `LogStore.append` (COPY of entries and
new tree nodes) with a checkpoint signed by `VaultCheckpointSigner` in OpenBao, in one transaction;
so the log looks as if the sequencer had written it batch by batch. What is skipped is Kafka and the
per-batch keyvault call. A chunk is prepared (in a worker thread) while the previous one is written.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from bench.audit_scenarios import LOG_PRODUCER, SPREAD, envelope, pool_subject
from services.audit.domain import merkle
from services.audit.domain.checkpoint import Checkpoint, note_for
from services.audit.domain.completeness import ProducerProgress
from services.audit.domain.entry import Entry, Event
from services.audit.events.decoding import decode
from services.audit.store.checkpoint_signer import VaultCheckpointSigner
from services.audit.store.log_store import LogStore
from services.common.db import apply_migrations, create_pool, migrations_in
from services.common.ids import new_id
from services.common.logging import configure_logging


@dataclass(frozen=True)
class LogSpec:
    owner_dsn: str  # the schema owner: runs the migrations, as the service does at start
    dsn: str  # the service's role: writes the log
    entries: int
    chunk: int  # entries per transaction and signed checkpoint: the sequencer's batch size
    refs: dict[str, str]  # pool subject -> keyvault reference
    vault_address: str
    vault_token: str  # the audit service's token: sign and read the checkpoint key, nothing else
    key_name: str
    mount: str


def _prepare(frontier: merkle.Frontier, templates: list[Event], refs: dict[str, str], first: int, last: int,
             base: datetime) -> tuple[int, list[Entry], list[merkle.StoredNode], bytes]:
    """Entries for sequences first..last, appended to the frontier: (first leaf index, entries, new nodes, root)."""
    entries = []
    for sequence in range(first, last + 1):
        template = templates[sequence * SPREAD % len(templates)]
        event = replace(template, event_id=str(new_id()), sequence=sequence,
                        occurred_at=base + timedelta(milliseconds=sequence))
        entries.append(Entry.of(event, refs[event.subject_id]))
    start = frontier.size
    nodes = frontier.extend(merkle.leaf_hash(e.body) for e in entries)
    return start, entries, nodes, frontier.root()


async def _write(conn: asyncpg.Connection, start: int, entries: list[Entry], nodes: list[merkle.StoredNode],
                 checkpoint: Checkpoint) -> None:
    async with conn.transaction():
        await LogStore(conn).append(start, entries, nodes, checkpoint)


async def _build(spec: LogSpec) -> dict[str, Any]:
    began = time.perf_counter()
    owner = await create_pool(spec.owner_dsn, 1, 1)
    try:
        await apply_migrations(owner, migrations_in("services.audit.store"))
    finally:
        await owner.close()
    signer = VaultCheckpointSigner(spec.vault_address, spec.vault_token, spec.key_name, spec.mount)
    await signer.load_public_key()
    templates = []
    for i in range(len(spec.refs)):
        decoded = decode(envelope(1, pool_subject(i), LOG_PRODUCER))
        assert isinstance(decoded, Event)
        templates.append(decoded)
    conn = await asyncpg.connect(spec.dsn)
    checkpoints = 0
    try:
        store = LogStore(conn)
        if await store.size():
            raise RuntimeError("the database already holds a log")
        frontier = merkle.Frontier()
        base = datetime.now(UTC) - timedelta(milliseconds=spec.entries) - timedelta(hours=1)
        writing: asyncio.Task[None] | None = None
        for first in range(1, spec.entries + 1, spec.chunk):
            last = min(first + spec.chunk - 1, spec.entries)
            start, entries, nodes, root = await asyncio.to_thread(_prepare, frontier, templates, spec.refs, first,
                                                                  last, base)
            size, issued = start + len(entries), datetime.now(UTC)
            note = note_for(size, root, issued)
            checkpoint = Checkpoint(size, root, issued, note, await signer.sign(note), signer.key_id)
            if writing is not None:
                await writing
            writing = asyncio.create_task(_write(conn, start, entries, nodes, checkpoint))
            checkpoints += 1
        if writing is not None:
            await writing
        await store.save_progress([ProducerProgress(LOG_PRODUCER, spec.entries, spec.entries)])
        size = await store.size()
    finally:
        await conn.close()
    return {"entries": size, "checkpoints": checkpoints, "chunk": spec.chunk, "seconds": time.perf_counter() - began,
            "key_id": signer.key_id, "public_key_pem": signer.public_key_pem}


def build_log(spec: LogSpec) -> dict[str, Any]:
    """Load-generator entry point: builds the log; returns its size, checkpoints and the seconds taken."""
    configure_logging("bench", "WARNING")  # the service code used here logs at INFO (migrations)
    return asyncio.run(_build(spec))
