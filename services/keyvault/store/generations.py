"""Key generations per (subject tag, purpose) in PostgreSQL."""

import asyncpg

from services.keyvault.domain.model import Generation

_COLUMNS = "generation, consent_id, consent_lapses, secret"


def _generation(row: asyncpg.Record) -> Generation:
    secret = row["secret"]
    return Generation(row["generation"], row["consent_id"], row["consent_lapses"],
                      bytes(secret) if secret is not None else None)


class GenerationStore:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def get(self, subject_tag: str, purpose_id: str) -> Generation | None:
        row = await self._conn.fetchrow(f"SELECT {_COLUMNS} FROM purpose_generations"
                                        " WHERE subject_tag = $1 AND purpose_id = $2", subject_tag, purpose_id)
        return _generation(row) if row else None

    async def begin(self, subject_tag: str, purpose_id: str, after: Generation | None, consent_id: str,
                    lapses: int, secret: bytes) -> Generation | None:
        """The next generation in place of `after` (its secret overwritten in the same statement); None
        when the row is no longer `after` (a concurrent release began one first)."""
        if after is None:
            row = await self._conn.fetchrow(
                "INSERT INTO purpose_generations (subject_tag, purpose_id, generation, consent_id, consent_lapses,"
                f" secret) VALUES ($1, $2, 1, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING {_COLUMNS}",
                subject_tag, purpose_id, consent_id, lapses, secret)
        else:
            row = await self._conn.fetchrow(
                "UPDATE purpose_generations SET generation = generation + 1, consent_id = $4, consent_lapses = $5,"
                " secret = $6, created_at = now(), retired_at = NULL"
                f" WHERE subject_tag = $1 AND purpose_id = $2 AND generation = $3 RETURNING {_COLUMNS}",
                subject_tag, purpose_id, after.number, consent_id, lapses, secret)
        return _generation(row) if row else None

    async def retire(self, subject_tag: str, purpose_id: str, number: int, lapses: int) -> bool:
        """Drops generation `number`'s secret, if it still has one; remembers the consent's lapses seen,
        so an older answer arriving late cannot start a generation for the ended term."""
        result = await self._conn.execute(
            "UPDATE purpose_generations SET secret = NULL, retired_at = now(),"
            " consent_lapses = GREATEST(consent_lapses, $4)"
            " WHERE subject_tag = $1 AND purpose_id = $2 AND generation = $3 AND secret IS NOT NULL",
            subject_tag, purpose_id, number, lapses)
        return result == "UPDATE 1"

    async def delete_subject(self, subject_tag: str) -> int:
        result = await self._conn.execute("DELETE FROM purpose_generations WHERE subject_tag = $1", subject_tag)
        return int(result.split()[-1])
