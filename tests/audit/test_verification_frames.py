"""VerifyLog reads a body between the frames PostgreSQL writes from its columns and reads it whole only
where they do not fit (LogStore.entries_in_frames). Against the definition, columns_match, over entries whose texts
need escaping: the frames fit every body canonical() wrote for its own columns, and fit no body whose
columns were changed after it was written."""

import json
import random
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from services.audit.domain.entry import Entry, Event, canonical, columns_match
from services.audit.store.log_store import LogStore

# Texts that JSON writes escaped or as they are: quotes, backslashes, control characters, characters
# beyond ASCII (written as UTF-8), a line separator, a slash.
PIECES = ["a", "Z", "0", " ", '"', "\\", "/", "\n", "\t", "\x01", "\x1f", "\x7f", "é", "中", "\u2028", "😀", '\\"', "{}"]
SPAN = timedelta(days=365 * 30)


def _text(rng: random.Random, longest: int = 6) -> str:
    return "".join(rng.choice(PIECES) for _ in range(rng.randint(0, longest)))


def _entry(rng: random.Random, leaf_index: int) -> tuple[Entry, str | None]:
    """An entry as the log writes it, and its controller column (None: from before controllers)."""
    occurred_at = datetime(2000, 1, 1, tzinfo=UTC) + timedelta(microseconds=rng.randrange(int(SPAN / timedelta(microseconds=1))))
    event = Event(str(uuid.UUID(int=rng.getrandbits(128), version=4)), _text(rng) or "p",
                  rng.choice([None, 0, leaf_index, 2**63 - 1]), _text(rng) or "t", "", occurred_at,
                  {"k": _text(rng), "nested": {"n": [leaf_index, _text(rng)]}, _text(rng): None},
                  _text(rng))
    entry = Entry.of(event, _text(rng))
    if rng.random() < 0.2:  # from before controllers: version 1, no controllerId
        document = {**json.loads(entry.body), "v": 1}
        del document["controllerId"]
        return Entry(entry.event_id, entry.producer, entry.sequence, entry.event_type, entry.subject_ref,
                     entry.occurred_at, canonical(document)), None
    return entry, entry.controller_id


# Each change to one column, as a tamperer would make it (the body stays as it was).
CHANGES = [
    ("event_id", lambda v, rng: uuid.UUID(int=rng.getrandbits(128), version=4)),
    ("producer", lambda v, rng: v + "x"),
    ("sequence", lambda v, rng: None if v is not None else 7),
    ("event_type", lambda v, rng: v[:-1]),
    ("subject_ref", lambda v, rng: v + '"'),
    ("occurred_at", lambda v, rng: v + timedelta(microseconds=1)),
    ("controller_id", lambda v, rng: "" if v is None else None),
]


@pytest.fixture
async def conn(postgres):
    conn = await asyncpg.connect(postgres.dsn())
    await conn.execute("CREATE TEMP TABLE entries (leaf_index bigint PRIMARY KEY, event_id uuid, producer text,"
                       " sequence bigint, event_type text, subject_ref text, occurred_at timestamptz, body bytea,"
                       " controller_id text)")
    yield conn
    await conn.close()


async def _insert(conn, rows: list[tuple]) -> None:
    await conn.executemany("INSERT INTO entries VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)", rows)


def _row(leaf_index: int, entry: Entry, controller_id: str | None) -> tuple:
    return (leaf_index, uuid.UUID(entry.event_id), entry.producer, entry.sequence, entry.event_type,
            entry.subject_ref, entry.occurred_at, entry.body, controller_id)


async def _checked(conn, size: int) -> list[tuple[bool, bool]]:
    """Each entry's (frames fit, columns match by the definition), in leaf order."""
    store = LogStore(conn)
    framed = await store.entries_in_frames(0, size)
    whole = await store.entries_with_columns(list(range(size)))
    assert [r[0] for r in framed] == [r[0] for r in whole] == list(range(size))
    return [(f[2], columns_match(w[1], tuple(w[2:]))) for f, w in zip(framed, whole, strict=True)]


async def test_frames_fit_every_body_written_for_its_own_columns(conn):
    rng = random.Random(9162)
    await _insert(conn, [_row(i, *_entry(rng, i)) for i in range(2_000)])

    checked = await _checked(conn, 2_000)

    assert checked == [(True, True)] * 2_000


async def test_frames_fit_no_body_whose_column_was_changed(conn):
    rng = random.Random(6962)
    rows = []
    for i in range(1_400):
        row = list(_row(i, *_entry(rng, i)))
        column, change = CHANGES[i % len(CHANGES)]
        at = ["leaf_index", "event_id", "producer", "sequence", "event_type", "subject_ref", "occurred_at", "body",
              "controller_id"].index(column)
        row[at] = change(row[at], rng)
        rows.append(tuple(row))
    await _insert(conn, rows)

    checked = await _checked(conn, 1_400)

    assert checked == [(False, False)] * 1_400


@pytest.mark.parametrize("body", [b"\xff\xfe{}", b"[1, 2]", b"{}", b""])
async def test_frames_fit_no_body_that_is_no_entry(conn, body):
    entry, controller_id = _entry(random.Random(1), 0)
    await _insert(conn, [(*_row(0, entry, controller_id)[:7], body, controller_id)])

    assert await _checked(conn, 1) == [(False, False)]
