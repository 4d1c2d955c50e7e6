"""The face gate's own database: encrypted templates (each blob carries its wrapped data key), a
small profile per person, and the journal of data-subject tasks already handled."""

import asyncpg

from consentry.dsr.v1.tasks_pb2 import DsrTaskResult

SCHEMA = """
CREATE TABLE IF NOT EXISTS templates (
    subject_id   text NOT NULL,
    purpose_id   text NOT NULL,
    blob         bytea NOT NULL,
    enrolled_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subject_id, purpose_id)
);
CREATE TABLE IF NOT EXISTS profiles (
    subject_id    text PRIMARY KEY,
    display_name  text NOT NULL DEFAULT '',
    badge_number  text NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS handled_tasks (
    task_id     text PRIMARY KEY,
    result      bytea NOT NULL,
    handled_at  timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE handled_tasks ADD COLUMN IF NOT EXISTS handled_at timestamptz NOT NULL DEFAULT now();
"""
CORRECTABLE = ("display_name", "badge_number")


async def _nothing_to_reset(conn: asyncpg.Connection) -> None:
    """The gate sets no session state (no SET, LISTEN or advisory lock), so a released connection
    skips asyncpg's reset query, a round trip per use; asyncpg still rolls back an open transaction."""


class FaceStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @classmethod
    async def open(cls, dsn: str) -> "FaceStore":
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=8, reset=_nothing_to_reset)
        await pool.execute(SCHEMA)
        return cls(pool)

    async def enrol(self, subject_id: str, purpose_id: str, blob: bytes, display_name: str) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO templates (subject_id, purpose_id, blob) VALUES ($1, $2, $3)"
                " ON CONFLICT (subject_id, purpose_id) DO UPDATE SET blob = $3, enrolled_at = now()",
                subject_id, purpose_id, blob)
            await conn.execute("INSERT INTO profiles (subject_id, display_name) VALUES ($1, $2)"
                               " ON CONFLICT (subject_id) DO NOTHING", subject_id, display_name)

    async def template(self, subject_id: str, purpose_id: str) -> bytes | None:
        blob = await self.pool.fetchval("SELECT blob FROM templates WHERE subject_id = $1 AND purpose_id = $2",
                                        subject_id, purpose_id)
        return bytes(blob) if blob is not None else None

    async def delete(self, subject_id: str, purpose_id: str | None) -> int:
        """One purpose's templates (withdrawal, expiry), or everything about the person (erasure)."""
        async with self.pool.acquire() as conn, conn.transaction():
            if purpose_id:
                result = await conn.execute("DELETE FROM templates WHERE subject_id = $1 AND purpose_id = $2",
                                            subject_id, purpose_id)
            else:
                result = await conn.execute("DELETE FROM templates WHERE subject_id = $1", subject_id)
                await conn.execute("DELETE FROM profiles WHERE subject_id = $1", subject_id)
        return int(result.split()[-1])

    async def record_of(self, subject_id: str) -> dict:
        """What the gate holds on the person, without the templates themselves."""
        rows = await self.pool.fetch(
            "SELECT purpose_id, enrolled_at, length(blob) AS size FROM templates WHERE subject_id = $1"
            " ORDER BY purpose_id", subject_id)
        profile = await self.pool.fetchrow("SELECT display_name, badge_number FROM profiles WHERE subject_id = $1",
                                           subject_id)
        return {"templates": [{"purposeId": r["purpose_id"], "enrolledAt": r["enrolled_at"].isoformat(),
                               "encryptedBytes": r["size"]} for r in rows],
                "profile": dict(profile) if profile else {}}

    async def correct(self, subject_id: str, corrections: dict[str, str]) -> list[str]:
        applied = [field for field in CORRECTABLE if field in corrections]
        for field in applied:
            await self.pool.execute(f"UPDATE profiles SET {field} = $2 WHERE subject_id = $1", subject_id,
                                    corrections[field])
        return applied

    async def count(self) -> int:
        return await self.pool.fetchval("SELECT count(*) FROM templates")

    # The processor's journal (consentry_client.TaskJournal)

    async def get(self, task_id: str) -> DsrTaskResult | None:
        value = await self.pool.fetchval("SELECT result FROM handled_tasks WHERE task_id = $1", task_id)
        return DsrTaskResult.FromString(bytes(value)) if value is not None else None

    async def put(self, result: DsrTaskResult) -> None:
        await self.pool.execute("INSERT INTO handled_tasks (task_id, result) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                                result.task_id, result.SerializeToString())

    async def task_ids(self, limit: int) -> list[str]:
        rows = await self.pool.fetch("SELECT task_id FROM handled_tasks ORDER BY handled_at LIMIT $1", limit)
        return [r["task_id"] for r in rows]

    async def forget(self, task_ids: list[str]) -> None:
        await self.pool.execute("DELETE FROM handled_tasks WHERE task_id = ANY($1::text[])", task_ids)

    async def close(self) -> None:
        await self.pool.close()
