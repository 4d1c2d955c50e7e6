"""The fuzz suite's change detector on a real PostgreSQL: every kind of committed write changes a
table's digest, including one that leaves the rows' contents as they were; reads, row locks and
rolled-back writes do not."""

import asyncio

import asyncpg
import pytest

from tests.fuzz.snapshot import Databases, changed
from tests.support import unique

TABLE = "db.public.people"


@pytest.fixture
async def db(postgres):
    name = unique("snapshot").replace("-", "_")
    await asyncio.to_thread(postgres.create_database, name)
    conn = await asyncpg.connect(postgres.dsn(name))
    await conn.execute("CREATE TABLE people (id int PRIMARY KEY, name text);"
                       " INSERT INTO people VALUES (1, 'mei'), (2, 'li');")
    databases = await Databases({"db": postgres.dsn(name)}).open()
    yield conn, databases
    await databases.close()
    await conn.close()


WRITES = {
    "an insert": "INSERT INTO people VALUES (3, 'wang')",
    "an update": "UPDATE people SET name = 'lin' WHERE id = 1",
    "an update to the same values": "UPDATE people SET name = name WHERE id = 1",
    "a delete": "DELETE FROM people WHERE id = 2",
    "a delete and an insert of as many rows": "DELETE FROM people WHERE id = 2; INSERT INTO people VALUES (2, 'li')",
}


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
async def test_every_committed_write_changes_the_digest(db, write):
    conn, databases = db
    before = await databases.digests()
    assert await databases.digests() == before  # nothing written, nothing changed
    await conn.execute(write)
    assert changed(before, await databases.digests()) == [TABLE]


async def test_reads_locks_and_rolled_back_writes_change_nothing(db):
    conn, databases = db
    before = await databases.digests()
    async with conn.transaction():
        await conn.fetch("SELECT * FROM people FOR UPDATE")
    with pytest.raises(ZeroDivisionError):
        async with conn.transaction():
            await conn.execute("UPDATE people SET name = 'lin'; INSERT INTO people VALUES (3, 'wang')")
            raise ZeroDivisionError
    assert await databases.digests() == before
