"""The audit log in PostgreSQL: entries, tree nodes and checkpoints (insert only), plus the
sequencer's working state (Kafka offsets, producer progress, the Append inbox)."""

import json
import re
import uuid
from collections.abc import Sequence

import asyncpg

from services.audit.domain.checkpoint import Checkpoint
from services.audit.domain.completeness import ProducerProgress
from services.audit.domain.entry import Entry, EntryFilter, Event

NodeAddress = tuple[int, int]
# Notified when the inbox gains events, so the sequencer takes them without waiting for its poll.
INBOX_CHANNEL = "audit_inbox"
# Notified with a new checkpoint's tree size (store migration 0004).
CHECKPOINT_CHANNEL = "audit_checkpoint"


# Each entry's indexed columns, written as the body writes them (entry.INDEXED's order; the time as
# entry.timestamp formats it, by PostgreSQL on its own core).
OCCURRED_AT_AS_WRITTEN = "to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
_COLUMNS_AS_WRITTEN = (f"event_id::text, producer, sequence, event_type, subject_ref, {OCCURRED_AT_AS_WRITTEN},"
                       " controller_id")
_ENTRIES_WITH_COLUMNS = (f"SELECT leaf_index, body, {_COLUMNS_AS_WRITTEN} FROM entries"
                         " WHERE leaf_index = ANY($1::bigint[]) ORDER BY leaf_index")
# Whether each entry's body sits between the frames that entry.canonical writes around its payload
# when the body says what the columns say (keys sorted: the indexed ones before and after "payload",
# then "v": 1 for an entry from before controllers, which names no controllerId, and 2 after): the
# body longer than both, starting with the head, ending with the tail. For a body canonical() wrote
# (its payload one JSON value, each key once) fitting is the same as entry.columns_match, without
# reading the body; every body hashed into a signed tree is one canonical() wrote, and any other
# fails its hash. Frames that do not fit prove nothing (a text may be escaped another way): such an
# entry is read whole and compared by columns_match. Written and compared by PostgreSQL on its own
# core (OFFSET 0 keeps the frames a subquery, each written once per row rather than at every use).
_ENTRIES_IN_FRAMES = f"""
SELECT leaf_index, body, octet_length(body) > octet_length(head) + octet_length(tail)
                         AND substr(body, 1, octet_length(head)) = head
                         AND substr(body, octet_length(body) - octet_length(tail) + 1) = tail
  FROM entries CROSS JOIN LATERAL (
       SELECT convert_to('{{' || CASE WHEN controller_id IS NULL THEN ''
                                      ELSE '"controllerId":' || to_json(controller_id)::text || ',' END
                          || '"eventId":"' || event_id::text || '","occurredAt":"' || {OCCURRED_AT_AS_WRITTEN}
                          || '","payload":', 'UTF8') AS head,
              convert_to(',"producer":' || to_json(producer)::text
                          || ',"sequence":' || coalesce(sequence::text, 'null')
                          || ',"subjectRef":' || to_json(subject_ref)::text || ',"type":' || to_json(event_type)::text
                          || ',"v":' || CASE WHEN controller_id IS NULL THEN '1' ELSE '2' END || '}}', 'UTF8') AS tail
       OFFSET 0) AS frames
 WHERE leaf_index >= $1 AND leaf_index < $2 ORDER BY leaf_index"""


_SNAPSHOT_ID = re.compile(r"[0-9A-F]+-[0-9A-F]+(-[0-9]+)?")


def _checkpoint(row: asyncpg.Record) -> Checkpoint:
    return Checkpoint(row["tree_size"], bytes(row["root_hash"]), row["issued_at"], bytes(row["note"]),
                      bytes(row["signature"]), row["key_id"])


class LogStore:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    # The log

    async def append(self, first_index: int, entries: list[Entry], nodes: list[tuple[int, int, bytes]],
                     checkpoint: Checkpoint) -> None:
        await self._conn.copy_records_to_table("entries", records=[
            (first_index + i, uuid.UUID(e.event_id), e.producer, e.sequence, e.event_type, e.subject_ref,
             e.occurred_at, e.body, e.controller_id) for i, e in enumerate(entries)],
            columns=["leaf_index", "event_id", "producer", "sequence", "event_type", "subject_ref", "occurred_at",
                     "body", "controller_id"])
        await self._conn.copy_records_to_table("tree_nodes", records=nodes, columns=["level", "node_index", "hash"])
        c = checkpoint
        await self._conn.execute(
            "INSERT INTO checkpoints (tree_size, root_hash, issued_at, note, signature, key_id)"
            " VALUES ($1, $2, $3, $4, $5, $6)", c.tree_size, c.root_hash, c.issued_at, c.note, c.signature, c.key_id)

    async def advance(self, offsets: dict[tuple[str, int], int], inbox_done: list[str],
                      progress: list[ProducerProgress]) -> None:
        """The sequencer's position moves in the same transaction as the entries it wrote."""
        if offsets:
            keys = list(offsets)
            await self._conn.execute(
                "INSERT INTO consumer_offsets (topic, partition, next_offset)"
                " SELECT * FROM unnest($1::text[], $2::int[], $3::bigint[])"
                " ON CONFLICT (topic, partition) DO UPDATE SET next_offset = excluded.next_offset",
                [t for t, _ in keys], [p for _, p in keys], [offsets[k] for k in keys])
        if inbox_done:
            await self._conn.execute("DELETE FROM inbox WHERE event_id = ANY($1::uuid[])", inbox_done)
        await self.save_progress(progress)

    async def save_progress(self, progress: list[ProducerProgress]) -> None:
        if not progress:
            return
        await self._conn.execute(
            "INSERT INTO producer_progress (producer, complete_up_to, highest_seen, gap_since)"
            " SELECT p, c, h, CASE WHEN h > c THEN now() END FROM unnest($1::text[], $2::bigint[], $3::bigint[])"
            " AS x(p, c, h)"
            " ON CONFLICT (producer) DO UPDATE SET complete_up_to = excluded.complete_up_to,"
            " highest_seen = excluded.highest_seen,"
            " gap_since = CASE WHEN excluded.highest_seen > excluded.complete_up_to"
            "   THEN coalesce(producer_progress.gap_since, now()) END",
            [p.producer for p in progress], [p.complete_up_to for p in progress], [p.highest_seen for p in progress])

    async def size(self) -> int:
        return await self._conn.fetchval("SELECT coalesce(max(leaf_index) + 1, 0) FROM entries")

    async def known_event_ids(self, event_ids: list[str]) -> set[str]:
        rows = await self._conn.fetch("SELECT event_id FROM entries WHERE event_id = ANY($1::uuid[])", event_ids)
        return {str(r["event_id"]) for r in rows}

    async def nodes(self, addresses: set[NodeAddress]) -> dict[NodeAddress, bytes]:
        """Every requested node in one query (a proof needs O(log n) of them)."""
        if not addresses:
            return {}
        levels, indexes = zip(*addresses, strict=True)
        # One key lookup per address, whatever the statistics (see node_ranges).
        rows = await self._conn.fetch(
            "SELECT a.level, a.node_index, (SELECT hash FROM tree_nodes n WHERE n.level = a.level"
            " AND n.node_index = a.node_index) AS hash FROM unnest($1::smallint[], $2::bigint[]) AS a(level, node_index)",
            list(levels), list(indexes))
        return {(r["level"], r["node_index"]): bytes(r["hash"]) for r in rows if r["hash"] is not None}

    async def node_ranges(self, ranges: list[tuple[int, int, int]]) -> list[list[bytes]]:
        """For each (level, first index, end index): the hashes of that level's stored nodes in the
        range, in index order (fewer than the range holds if some are not stored)."""
        # A range scan of the key per range, whatever the statistics: as a plain join, the generic plan
        # PostgreSQL keeps for this prepared statement, made while the table was small, seq-scans it
        # once it has grown (the ORDER BY keeps the planner from flattening the subquery into a join).
        rows = await self._conn.fetch(
            "SELECT r.i, n.hash FROM unnest($1::smallint[], $2::bigint[], $3::bigint[]) WITH ORDINALITY"
            " AS r(level, first_index, end_index, i)"
            " CROSS JOIN LATERAL (SELECT node_index, hash FROM tree_nodes WHERE level = r.level"
            " AND node_index >= r.first_index AND node_index < r.end_index ORDER BY node_index) AS n"
            " ORDER BY r.i, n.node_index", *(list(column) for column in zip(*ranges, strict=True)))
        found: list[list[bytes]] = [[] for _ in ranges]
        for i, node in rows:
            found[i - 1].append(bytes(node))
        return found

    async def latest_checkpoint(self) -> Checkpoint | None:
        row = await self._conn.fetchrow("SELECT * FROM checkpoints ORDER BY tree_size DESC LIMIT 1")
        return _checkpoint(row) if row else None

    async def checkpoint_at(self, tree_size: int) -> Checkpoint | None:
        row = await self._conn.fetchrow("SELECT * FROM checkpoints WHERE tree_size = $1", tree_size)
        return _checkpoint(row) if row else None

    async def checkpoints(self) -> list[Checkpoint]:
        return [_checkpoint(r) for r in await self._conn.fetch("SELECT * FROM checkpoints ORDER BY tree_size")]

    async def leaf_body(self, leaf_index: int) -> bytes | None:
        body = await self._conn.fetchval("SELECT body FROM entries WHERE leaf_index = $1", leaf_index)
        return bytes(body) if body is not None else None

    async def find(self, where: EntryFilter, after_index: int, below_size: int, limit: int
                   ) -> list[tuple[int, bytes]]:
        rows = await self._conn.fetch(
            "SELECT leaf_index, body FROM entries WHERE leaf_index > $1 AND leaf_index < $2"
            " AND ($3 = '' OR subject_ref = $3) AND ($4 = '' OR event_type = $4) AND ($5 = '' OR producer = $5)"
            " AND ($6::timestamptz IS NULL OR occurred_at >= $6) AND ($7::timestamptz IS NULL OR occurred_at < $7)"
            " AND ($9::text IS NULL OR controller_id = $9 OR ($10 AND controller_id IS NULL))"
            " ORDER BY leaf_index LIMIT $8",
            after_index, below_size, where.subject_ref, where.event_type, where.producer, where.occurred_from,
            where.occurred_until, limit, where.controller_id, where.legacy)
        return [(r["leaf_index"], bytes(r["body"])) for r in rows]

    async def leaf_controller(self, leaf_index: int) -> tuple[bool, str | None]:
        """(whether the leaf is stored, its controller: None for an entry from before controllers)."""
        row = await self._conn.fetchrow("SELECT controller_id FROM entries WHERE leaf_index = $1", leaf_index)
        return (row is not None, row["controller_id"] if row is not None else None)

    async def entries_in_frames(self, first: int, end: int) -> list[Sequence]:
        """The entries at leaves `first` to `end` - 1 there are, in leaf order, each a row of its leaf
        index, its body, and whether the body sits in the frames its columns say (above)."""
        return await self._conn.fetch(_ENTRIES_IN_FRAMES, first, end)

    async def entries_with_columns(self, leaf_indexes: list[int]) -> list[Sequence]:
        """The entries at `leaf_indexes`, in leaf order, each a row of its leaf index, its body, then its
        indexed columns as `entry.columns_match` compares them."""
        return await self._conn.fetch(_ENTRIES_WITH_COLUMNS, leaf_indexes)

    async def scan_nodes(self, level: int, below_index: int) -> list[tuple[int, bytes]]:
        rows = await self._conn.fetch(
            "SELECT node_index, hash FROM tree_nodes WHERE level = $1 AND node_index < $2 ORDER BY node_index",
            level, below_index)
        return [(r["node_index"], bytes(r["hash"])) for r in rows]

    async def export_snapshot(self) -> str:
        """This transaction's snapshot, for another connection to read the same database state."""
        return await self._conn.fetchval("SELECT pg_export_snapshot()")

    async def adopt_snapshot(self, snapshot: str) -> None:
        """Reads from now on what the transaction that exported `snapshot` reads; the first statement
        of a repeatable-read transaction (PostgreSQL takes no parameter here, hence the check)."""
        if not _SNAPSHOT_ID.fullmatch(snapshot):
            raise ValueError(f"not a snapshot id: {snapshot!r}")
        await self._conn.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")

    async def level_digest(self, level: int, below_index: int) -> tuple[int, bool, bytes]:
        """How many nodes of `level` are stored at indexes 0 to `below_index` - 1, whether each is a
        32-byte hash, and the SHA-256 of their hashes joined in index order: a level is compared
        whole without being read out."""
        row = await self._conn.fetchrow(
            "SELECT count(*), coalesce(bool_and(octet_length(hash) = 32), true),"
            " sha256(coalesce(string_agg(hash, ''::bytea ORDER BY node_index), ''::bytea))"
            " FROM tree_nodes WHERE level = $1 AND node_index >= 0 AND node_index < $2", level, below_index)
        return row[0], row[1], bytes(row[2])

    # Working state

    async def offsets(self) -> dict[tuple[str, int], int]:
        rows = await self._conn.fetch("SELECT * FROM consumer_offsets")
        return {(r["topic"], r["partition"]): r["next_offset"] for r in rows}

    async def progress(self) -> list[ProducerProgress]:
        """Loaded with the sequences already in the log above each producer's complete point."""
        found = []
        for row in await self._conn.fetch("SELECT * FROM producer_progress"):
            ahead = await self._conn.fetch(
                "SELECT DISTINCT sequence FROM entries WHERE producer = $1 AND sequence > $2",
                row["producer"], row["complete_up_to"])
            found.append(ProducerProgress(row["producer"], row["complete_up_to"], row["highest_seen"],
                                          {r["sequence"] for r in ahead}, row["replay_requested_at"]))
        return found

    async def replay_requested(self, producer: str) -> None:
        await self._conn.execute("UPDATE producer_progress SET replay_requested_at = now() WHERE producer = $1",
                                 producer)

    async def add_to_inbox(self, events: list[Event]) -> int:
        result = await self._conn.execute(
            "INSERT INTO inbox (event_id, producer, sequence, event_type, subject_id, occurred_at, payload,"
            " controller_id)"
            " SELECT * FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::text[], $5::text[],"
            " $6::timestamptz[], $7::jsonb[], $8::text[]) AS x(event_id, producer, sequence, event_type, subject_id,"
            " occurred_at, payload, controller_id)"
            " WHERE NOT EXISTS (SELECT 1 FROM entries e WHERE e.event_id = x.event_id)"
            " ON CONFLICT (event_id) DO NOTHING",
            [e.event_id for e in events], [e.producer for e in events], [e.sequence for e in events],
            [e.event_type for e in events], [e.subject_id for e in events], [e.occurred_at for e in events],
            [json.dumps(e.payload) for e in events], [e.controller_id for e in events])
        return int(result.split()[-1])

    async def announce_inbox(self) -> None:
        """Sent at commit: wakes the sequencer for what was just added."""
        await self._conn.execute("SELECT pg_notify($1, '')", INBOX_CHANNEL)

    async def accepted_up_to(self, producer: str) -> int:
        """The highest sequence of the producer's the log holds without a gap, or its inbox waits with."""
        return await self._conn.fetchval(
            "SELECT greatest(coalesce((SELECT complete_up_to FROM producer_progress WHERE producer = $1), 0),"
            " coalesce((SELECT max(sequence) FROM inbox WHERE producer = $1), 0))", producer)

    async def inbox(self, limit: int) -> list[Event]:
        rows = await self._conn.fetch("SELECT * FROM inbox ORDER BY received_at, event_id LIMIT $1", limit)
        return [Event(str(r["event_id"]), r["producer"], r["sequence"], r["event_type"], r["subject_id"],
                      r["occurred_at"], json.loads(r["payload"]), r["controller_id"] or "") for r in rows]
