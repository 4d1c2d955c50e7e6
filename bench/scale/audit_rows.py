"""An audit log as the audit service writes it (services/audit/store/log_store.py `append`), grown in
bulk after a few entries the service itself wrote (the template: its first batch, leaves 0..k-1).

- entries: leaf k.. of the same producer, each a copy of leaf 0 whose body (the canonical JSON the
  leaf hashes) names its own event id (UUIDv7 of its time), sequence, subject reference (64 hex, as
  keyvault's HMAC references look; about ten entries per subject, spread over the log) and time,
  in the indexed columns too; times spread evenly over the year before the load;
- tree_nodes: every perfect subtree, computed by PostgreSQL's sha256() as the rows are generated
  (RFC 9162: leaf = H(0x00 || body), node = H(0x01 || left || right)), level by level;
- checkpoints: one per 5,000 leaves (the service's default batch) and one at the end, each note as the
  service writes it (origin, size, base64 root, time) and signed by the service's own Ed25519 key in
  OpenBao, with the service's own sign-and-read token; roots computed with bench/audit/rfc9162.py;
- producer_progress: the producer complete up to its last sequence, as the sequencer leaves it.
Hashing in PostgreSQL costs about 1.6 s of one core per million bodies of this size, less than half of
what fetching the bodies into Python and back would (measured: fetch 1.5 s, hashlib 0.85 s, COPY of
the hashes 0.7 s per million), so the hashes never leave the database."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta

import asyncpg
import hvac

from bench.audit.rfc9162 import range_hash, subtrees

CHECKPOINT_EVERY = 5_000
SUBJECT_INDEX = "entries_by_subject"  # random in load order: built after the rows (bulk.pause)
_AT = "to_char(({0}) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"  # entry.timestamp()

# $1, $2: first and last leaf; $3: leaves in all; $4: the load's "now"; $5: subjects; $6..$10: the template's
# body around the values that differ (body_parts); $11..$13: its producer, event type and controller.
ENTRIES = f"""
WITH g AS (SELECT i, $4::timestamptz - interval '365 days' + ((i + 0.5) / $3) * interval '364 days' AS at,
                  encode(sha256(convert_to('scale-subject-' || ((i * 7919) % $5), 'UTF8')), 'hex') AS ref
           FROM generate_series($1::bigint, $2::bigint) AS i),
e AS (SELECT g.*, uuidv7(g.at - $4) AS id FROM g),
saved AS (
    INSERT INTO entries (leaf_index, event_id, producer, sequence, event_type, subject_ref, occurred_at, body,
                         controller_id)
    SELECT i, id, $11, i + 1, $12, ref, at,
           convert_to($6 || id || $7 || {_AT.format("at")} || $8 || (i + 1) || $9 || ref || $10, 'UTF8'), $13
    FROM e
    RETURNING leaf_index, body)
INSERT INTO tree_nodes (level, node_index, hash) SELECT 0, leaf_index, sha256('\\x00'::bytea || body) FROM saved
"""


def body_parts(body: str, event_id: str, occurred_at: str, sequence: int, subject_ref: str) -> list[str]:
    """The template's body split around its event id, time, sequence and subject reference, so each loaded
    body is one concatenation. The keys are sorted: eventId and occurredAt come before the payload (their
    first occurrence is theirs), sequence and subjectRef after it (their last)."""
    head, id_found, rest = body.partition(f'"eventId":"{event_id}"')
    middle, at_found, rest = rest.partition(f'"occurredAt":"{occurred_at}"')
    payload, seq_found, rest = rest.rpartition(f'"sequence":{sequence},"subjectRef":"{subject_ref}"')
    if not (id_found and at_found and seq_found):
        raise ValueError("the template's body does not name its own event id, time, sequence and subject")
    return [head + '"eventId":"', '"' + middle + '"occurredAt":"', '"' + payload + '"sequence":',
            ',"subjectRef":"', '"' + rest]


# $1: the level; $2: the first node of it to make (those below exist). One ordered scan of the level below.
LEVEL = """
INSERT INTO tree_nodes (level, node_index, hash)
SELECT $1, node_index / 2, sha256('\\x01'::bytea || hash || next) FROM (
    SELECT node_index, hash, lead(hash) OVER (ORDER BY node_index) AS next FROM tree_nodes
    WHERE level = $1 - 1 AND node_index >= 2 * $2::bigint) AS pairs
WHERE node_index % 2 = 0 AND next IS NOT NULL
"""

# The entry as the template shows it: every loaded entry must differ from it in exactly these fields.
TEMPLATE = (f"SELECT convert_from(body, 'UTF8') AS body, event_id::text, {_AT.format('occurred_at')} AS occurred_at,"
            " sequence, subject_ref, producer, event_type, controller_id FROM entries WHERE leaf_index = 0")
PROGRESS = "UPDATE producer_progress SET complete_up_to = $2, highest_seen = $2 WHERE producer = $1"


async def build_levels(conn: asyncpg.Connection, size: int) -> None:
    """Every perfect subtree above the leaves of a tree of `size` that is not stored yet."""
    await conn.execute("ANALYZE tree_nodes")  # the leaves are in: a level's range is read by its index
    level = 1
    while size >> level:
        have = await conn.fetchval("SELECT count(*) FROM tree_nodes WHERE level = $1", level)
        await conn.execute(LEVEL, level, have)
        level += 1


def checkpoint_sizes(first: int, size: int) -> list[int]:
    """After the template's own: every CHECKPOINT_EVERY leaves, and the whole tree."""
    return [*range((first // CHECKPOINT_EVERY + 1) * CHECKPOINT_EVERY, size, CHECKPOINT_EVERY), size]


async def roots(conn: asyncpg.Connection, sizes: list[int]) -> dict[int, bytes]:
    """The root of the tree at each size, from its stored subtrees (one query)."""
    wanted = sorted({node for size in sizes for node in subtrees(0, size)})
    rows = await conn.fetch("SELECT level, node_index, hash FROM tree_nodes JOIN unnest($1::smallint[], $2::bigint[])"
                            " AS w(level, node_index) USING (level, node_index)",
                            [h for h, _ in wanted], [i for _, i in wanted])
    nodes = {(r["level"], r["node_index"]): bytes(r["hash"]) for r in rows}
    return {size: range_hash([nodes[node] for node in subtrees(0, size)]) for size in sizes}


def notes(origin: str, found: dict[int, bytes], issued: dict[int, datetime]) -> dict[int, bytes]:
    """Each checkpoint's note, as services/audit/domain/checkpoint.py `note_for` writes it."""
    def stamp(at: datetime) -> str:
        return at.isoformat(timespec="microseconds").replace("+00:00", "Z")
    return {size: f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n{stamp(issued[size])}\n".encode()
            for size, root in found.items()}


def sign(vault: hvac.Client, key_name: str, mount: str, texts: list[bytes], batch: int = 400) -> list[bytes]:
    """Ed25519 signatures from transit, in batches (OpenBao refuses a body of more than 1,000 JSON strings)."""
    signatures: list[bytes] = []
    for first in range(0, len(texts), batch):
        reply = vault.secrets.transit.sign_data(
            key_name, mount_point=mount,
            batch_input=[{"input": base64.b64encode(text).decode()} for text in texts[first:first + batch]])
        results = reply["data"]["batch_results"]
        if any("error" in r and r["error"] for r in results):
            raise RuntimeError(f"transit refused to sign: {results[0].get('error')}")
        signatures += [base64.b64decode(r["signature"].split(":", 2)[2]) for r in results]
    return signatures


def issued_times(now: datetime, size: int, sizes: list[int], first: int) -> dict[int, datetime]:
    """A checkpoint is issued just after the last entry it covers (entry times as ENTRIES spreads them)."""
    span, start = timedelta(days=364), now - timedelta(days=365)
    return {s: start + span * ((max(s - 1, first) + 0.5) / size) + timedelta(milliseconds=50) for s in sizes}
