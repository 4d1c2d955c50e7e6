"""The keyvault's PostgreSQL store, used inside the unit of work's transaction."""

from datetime import datetime

import asyncpg

from services.keyvault.domain.model import Certificate, KeyState, SubjectKey


def _key(row: asyncpg.Record) -> SubjectKey:
    return SubjectKey(row["subject_id"], KeyState(row["state"]), row["backend"], row["wrapped_key"],
                      row["kek_version"], row["created_at"], row["shredded_at"])


class KeyStore:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def get(self, subject_id: str, *, for_update: bool = False) -> SubjectKey | None:
        lock = " FOR UPDATE" if for_update else ""
        row = await self._conn.fetchrow(f"SELECT * FROM subject_keys WHERE subject_id = $1{lock}", subject_id)
        return _key(row) if row else None

    async def add_many(self, keys: list[SubjectKey]) -> set[str]:
        """Inserts keys that do not exist yet (a tombstone counts as existing); returns the ids added."""
        rows = await self._conn.fetch(
            "INSERT INTO subject_keys (subject_id, state, backend, wrapped_key, kek_version)"
            " SELECT * FROM unnest($1::text[], $2::smallint[], $3::text[], $4::text[], $5::int[])"
            " ON CONFLICT (subject_id) DO NOTHING RETURNING subject_id",
            [k.subject_id for k in keys], [k.state.value for k in keys], [k.backend for k in keys],
            [k.wrapped_key for k in keys], [k.kek_version for k in keys])
        return {r["subject_id"] for r in rows}

    async def shred(self, subject_id: str, backend: str, request_id: str, at: datetime,
                    certificate: Certificate) -> None:
        """Drops the wrapped key and leaves the tombstone (also for a subject that never had a key)."""
        await self._conn.execute(
            "INSERT INTO subject_keys (subject_id, state, backend, wrapped_key, kek_version, shredded_at,"
            " request_id, certificate_json, certificate_sig, certificate_key)"
            " VALUES ($1, $2, $3, NULL, 0, $4, $5, $6, $7, $8)"
            " ON CONFLICT (subject_id) DO UPDATE SET state = $2, wrapped_key = NULL, shredded_at = $4,"
            " request_id = $5, certificate_json = $6, certificate_sig = $7, certificate_key = $8",
            subject_id, KeyState.SHREDDED.value, backend, at, request_id, certificate.certificate_json,
            certificate.signature, certificate.key_id)

    async def certificate(self, subject_id: str) -> Certificate | None:
        row = await self._conn.fetchrow(
            "SELECT certificate_json, certificate_sig, certificate_key FROM subject_keys"
            " WHERE subject_id = $1 AND state = $2", subject_id, KeyState.SHREDDED.value)
        if row is None:
            return None
        return Certificate(bytes(row["certificate_json"]), bytes(row["certificate_sig"]), row["certificate_key"])

    async def get_many(self, subject_ids: list[str]) -> dict[str, SubjectKey]:
        rows = await self._conn.fetch("SELECT * FROM subject_keys WHERE subject_id = ANY($1::text[])", subject_ids)
        return {r["subject_id"]: _key(r) for r in rows}

    async def wrapped_below(self, kek_version: int, limit: int) -> list[tuple[str, str]]:
        rows = await self._conn.fetch(
            "SELECT subject_id, wrapped_key FROM subject_keys WHERE state = $1 AND kek_version < $2 LIMIT $3",
            KeyState.ACTIVE.value, kek_version, limit)
        return [(r["subject_id"], r["wrapped_key"]) for r in rows]

    async def replace_wrapped(self, changes: list[tuple[str, str, str, int]]) -> int:
        """(subject, old wrapped, new wrapped, version); a row shredded meanwhile is left alone."""
        result = await self._conn.execute(
            "UPDATE subject_keys k SET wrapped_key = c.new, kek_version = c.version"
            " FROM unnest($1::text[], $2::text[], $3::text[], $4::int[]) AS c(subject_id, old, new, version)"
            " WHERE k.subject_id = c.subject_id AND k.wrapped_key = c.old",
            [c[0] for c in changes], [c[1] for c in changes], [c[2] for c in changes], [c[3] for c in changes])
        return int(result.split()[-1])
