"""An existing keyvault database, written while rows were keyed by the plain subject id, moves to
keyed tags at the next start: afterwards no column holds the id or a plain hash of it, and every
row is still found, by the tag, for the id a caller passes in."""

import hashlib

import asyncpg
import pytest

from services.common.db import apply_migrations, migrations_in
from services.keyvault.domain.model import KeyState
from services.keyvault.service.backends import TransitPerSubjectBackend
from services.keyvault.store import keyed_rows
from services.keyvault.store.repository import KeyStore
from tests.support import unique

PACKAGE = "services.keyvault.store"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
async def old_database(postgres):
    """A database at migration 0003, the last one keyed by the plain id."""
    name = unique("keyvault_old").replace("-", "_")
    postgres.create_database(name)
    pool = await asyncpg.create_pool(postgres.dsn(name), min_size=1, max_size=2)
    await apply_migrations(pool, [m for m in migrations_in(PACKAGE) if m[0] < f"{PACKAGE}:0004"])
    yield pool
    await pool.close()


async def everything_stored(conn: asyncpg.Connection) -> str:
    return "\n".join(str(dict(r)) for r in await conn.fetch("SELECT * FROM subject_keys"))


async def test_rows_keyed_by_the_plain_id_move_to_the_tag(old_database, tagger):
    wrapped, transit, shredded = unique("person-wrapped"), unique("person-transit"), unique("person-shredded")
    async with old_database.acquire() as conn:
        await conn.execute(
            "INSERT INTO subject_keys (subject_id, state, backend, wrapped_key, kek_version) VALUES"
            " ($1, 2, 'wrapped', 'vault:v1:c2VhbGVk', 1), ($2, 2, 'transit-per-subject', $3, 1)",
            wrapped, transit, TransitPerSubjectBackend.PREFIX + sha256(transit)[:32])
        await conn.execute("INSERT INTO subject_keys (subject_id, state, backend, kek_version, shredded_at)"
                           " VALUES ($1, 3, 'wrapped', 0, now())", shredded)

    await apply_migrations(old_database, migrations_in(PACKAGE, {keyed_rows.NAME: keyed_rows.tag_subject_keys(tagger)}))

    async with old_database.acquire() as conn:
        stored = await everything_stored(conn)
        columns = {r["attname"] for r in await conn.fetch(
            "SELECT attname FROM pg_attribute WHERE attrelid = 'subject_keys'::regclass AND attnum > 0"
            " AND NOT attisdropped")}
        keys = await KeyStore(conn, tagger).get_many([wrapped, transit, shredded])
    for person in (wrapped, transit, shredded):
        assert person not in stored and sha256(person)[:32] not in stored
    assert "subject_id" not in columns
    assert {p: (k.tag, k.state) for p, k in keys.items()} == {
        wrapped: (tagger.tag(wrapped), KeyState.ACTIVE), transit: (tagger.tag(transit), KeyState.ACTIVE),
        shredded: (tagger.tag(shredded), KeyState.SHREDDED)}
    assert keys[wrapped].wrapped_key == "vault:v1:c2VhbGVk"
    # The per-subject key made before keyed rows keeps its Vault name, now derived from the id.
    assert TransitPerSubjectBackend.name_of(keys[transit]) == TransitPerSubjectBackend.PREFIX + sha256(transit)[:32]


async def test_without_the_erasure_key_the_move_stops_before_dropping_the_id(old_database):
    async with old_database.acquire() as conn:
        await conn.execute("INSERT INTO subject_keys (subject_id, state, backend, wrapped_key, kek_version)"
                           " VALUES ($1, 2, 'wrapped', 'vault:v1:c2VhbGVk', 1)", unique("person"))

    with pytest.raises(asyncpg.NotNullViolationError):
        await apply_migrations(old_database, migrations_in(PACKAGE))
