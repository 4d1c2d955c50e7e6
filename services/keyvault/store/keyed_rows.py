"""Migration step 0005: rows written while subject_keys was keyed by the plain id get its tag (see
migration 0004). It runs once, in the migration's transaction, with the service's erasure key."""

import asyncpg

from services.common.db import MigrationStep
from services.common.erasure import SubjectTagger

NAME = "0005_tag_subject_keys"
BATCH = 5000
# Stands in the wrapped_key column of a transit-per-subject key made before keys were named by
# tag: its Vault name holds a SHA-256 of the id, so the backend derives it from the id each time.
LEGACY_TRANSIT_NAME = "legacy-name"


def tag_subject_keys(tagger: SubjectTagger) -> MigrationStep:
    async def step(conn: asyncpg.Connection) -> None:
        while rows := await conn.fetch(
                "SELECT subject_id, backend, wrapped_key FROM subject_keys WHERE subject_tag IS NULL LIMIT $1", BATCH):
            await conn.execute(
                "UPDATE subject_keys k SET subject_tag = c.tag, wrapped_key = c.wrapped"
                " FROM unnest($1::text[], $2::text[], $3::text[]) AS c(subject_id, tag, wrapped)"
                " WHERE k.subject_id = c.subject_id",
                [r["subject_id"] for r in rows], [tagger.tag(r["subject_id"]) for r in rows],
                [_wrapped(r) for r in rows])
    return step


def _wrapped(row: asyncpg.Record) -> str | None:
    if row["backend"] == "transit-per-subject" and row["wrapped_key"] is not None:
        return LEGACY_TRANSIT_NAME  # the column held the Vault name, a hash of the id
    return row["wrapped_key"]
