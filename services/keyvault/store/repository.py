"""The keyvault's PostgreSQL store, on a unit of work's connection (services/common/uow.py). Rows
know a subject only by its keyed tag at its controller: every caller passes the controller and the
subject id in, so the id is never stored, and the same person at another controller is another row."""

from datetime import datetime

import asyncpg

from services.common.erasure import SubjectTagger
from services.common.event_keys import destroy_event_keys
from services.common.outbox_retention import redact_persons
from services.keyvault.domain.errors import ControllerOffboarded
from services.keyvault.domain.model import Certificate, KeyState, SubjectKey


def _key(controller_id: str | None, subject_id: str, row: asyncpg.Record) -> SubjectKey:
    return SubjectKey(subject_id, row["subject_tag"], KeyState(row["state"]), row["backend"], row["wrapped_key"],
                      row["kek_version"], row["subject_ref"], row["created_at"], row["shredded_at"], controller_id)


class KeyStore:
    def __init__(self, conn: asyncpg.Connection, tagger: SubjectTagger) -> None:
        self._conn, self._tagger = conn, tagger

    async def get(self, controller_id: str | None, subject_id: str, *, for_update: bool = False
                  ) -> SubjectKey | None:
        lock = " FOR UPDATE" if for_update else ""
        row = await self._conn.fetchrow(f"SELECT * FROM subject_keys WHERE subject_tag = $1{lock}",
                                        self._tagger.tag(subject_id, controller_id))
        return _key(controller_id, subject_id, row) if row else None

    async def add_many(self, keys: list[SubjectKey]) -> set[str]:
        """Inserts keys that do not exist yet (a tombstone counts as existing); returns the ids added."""
        rows = await self._conn.fetch(
            "INSERT INTO subject_keys (subject_tag, state, backend, wrapped_key, kek_version, controller_id)"
            " SELECT * FROM unnest($1::text[], $2::smallint[], $3::text[], $4::text[], $5::int[], $6::text[])"
            " ON CONFLICT (subject_tag) DO NOTHING RETURNING subject_tag",
            [k.tag for k in keys], [k.state.value for k in keys], [k.backend for k in keys],
            [k.wrapped_key for k in keys], [k.kek_version for k in keys], [k.controller_id for k in keys])
        added = {r["subject_tag"] for r in rows}
        return {k.subject_id for k in keys if k.tag in added}

    async def mark_shredding(self, key: SubjectKey, subject_ref: str) -> bool:
        """ACTIVE to SHREDDING, unless the row changed since `key` was read."""
        result = await self._conn.execute(
            "UPDATE subject_keys SET state = $1, subject_ref = $2"
            " WHERE subject_tag = $3 AND state = $4 AND wrapped_key = $5",
            KeyState.SHREDDING.value, subject_ref, key.tag, KeyState.ACTIVE.value, key.wrapped_key)
        return result == "UPDATE 1"

    async def shred(self, key: SubjectKey, request_id: str, at: datetime, certificate: Certificate) -> bool:
        """Drops the wrapped key and leaves the tombstone, unless the row changed since `key` was read
        (for a subject without a key: unless one was created meanwhile). Then every event about the
        person, waiting in the outbox or on the broker, stops naming them."""
        values = (KeyState.SHREDDED.value, at, request_id, certificate.certificate_json, certificate.signature,
                  certificate.key_id)
        if key.state is KeyState.ABSENT:
            result = await self._conn.execute(
                "INSERT INTO subject_keys (subject_tag, backend, kek_version, state, shredded_at, request_id,"
                " certificate_json, certificate_sig, certificate_key, controller_id)"
                " VALUES ($7, $8, 0, $1, $2, $3, $4, $5, $6, $9) ON CONFLICT (subject_tag) DO NOTHING",
                *values, key.tag, key.backend, key.controller_id)
            shredded = result == "INSERT 0 1"
        else:
            result = await self._conn.execute(
                "UPDATE subject_keys SET state = $1, wrapped_key = NULL, subject_ref = NULL, shredded_at = $2,"
                " request_id = $3, certificate_json = $4, certificate_sig = $5, certificate_key = $6"
                " WHERE subject_tag = $7 AND state = $8 AND wrapped_key = $9",
                *values, key.tag, key.state.value, key.wrapped_key)
            shredded = result == "UPDATE 1"
        if shredded:
            await redact_persons(self._conn, [key.subject_id], key.controller_id)
            await destroy_event_keys(self._conn, [key.tag])
        return shredded

    async def certificate(self, controller_id: str | None, subject_id: str) -> Certificate | None:
        row = await self._conn.fetchrow(
            "SELECT certificate_json, certificate_sig, certificate_key FROM subject_keys"
            " WHERE subject_tag = $1 AND state = $2", self._tagger.tag(subject_id, controller_id),
            KeyState.SHREDDED.value)
        if row is None:
            return None
        return Certificate(bytes(row["certificate_json"]), bytes(row["certificate_sig"]), row["certificate_key"])

    async def get_many(self, controller_id: str | None, subject_ids: list[str]) -> dict[str, SubjectKey]:
        ids = {self._tagger.tag(s, controller_id): s for s in subject_ids}
        rows = await self._conn.fetch("SELECT * FROM subject_keys WHERE subject_tag = ANY($1::text[])", list(ids))
        return {ids[r["subject_tag"]]: _key(controller_id, ids[r["subject_tag"]], r) for r in rows}

    async def live_subjects(self, controller_id: str, subject_ids: list[str]) -> set[str]:
        """Those whose key is ACTIVE, share-locked until the transaction ends: a shred waits for it,
        so what the transaction writes about them is there when the shred scrubs their events."""
        ids = {self._tagger.tag(s, controller_id): s for s in subject_ids}
        rows = await self._conn.fetch("SELECT subject_tag FROM subject_keys WHERE subject_tag = ANY($1::text[])"
                                      " AND state = $2 FOR SHARE", list(ids), KeyState.ACTIVE.value)
        return {ids[r["subject_tag"]] for r in rows}

    def _is_default(self, controller_id: str | None) -> bool:
        return controller_id is None or controller_id == self._tagger.default_controller

    def _of_controller(self, controller_id: str | None) -> tuple[str, str]:
        """(SQL condition on subject_keys with $1, its value): the default controller's keys include
        those from before controllers (NULL)."""
        if self._is_default(controller_id):
            return "(controller_id IS NULL OR controller_id = $1)", self._tagger.default_controller
        return "controller_id = $1", controller_id

    def _kek_row(self, controller_id: str | None) -> str:
        """The controller_keks row of the controller's KEK ('': the default controller's, migration 0009)."""
        return "" if self._is_default(controller_id) else controller_id

    async def _ensure_kek_row(self, row: str) -> None:
        """There must be a row to lock."""
        await self._conn.execute("INSERT INTO controller_keks (controller_id) VALUES ($1) ON CONFLICT DO NOTHING", row)

    async def wrapped_below(self, controller_id: str | None, kek_version: int, limit: int) -> list[tuple[str, str]]:
        """(tag, wrapped key) of the controller's live keys wrapped under an older version of its KEK."""
        condition, controller = self._of_controller(controller_id)
        rows = await self._conn.fetch(
            f"SELECT subject_tag, wrapped_key FROM subject_keys WHERE {condition} AND state = $2 AND kek_version < $3"
            " LIMIT $4", controller, KeyState.ACTIVE.value, kek_version, limit)
        return [(r["subject_tag"], r["wrapped_key"]) for r in rows]

    async def live_keys_by_kek_version(self, controller_id: str | None) -> list[tuple[int, int]]:
        """(KEK version, live keys wrapped under it) of the controller's keys, lowest version first."""
        condition, controller = self._of_controller(controller_id)
        rows = await self._conn.fetch(
            f"SELECT kek_version, count(*) AS keys FROM subject_keys WHERE {condition} AND state = $2"
            " AND kek_version IS NOT NULL GROUP BY kek_version ORDER BY kek_version", controller, KeyState.ACTIVE.value)
        return [(r["kek_version"], r["keys"]) for r in rows]

    async def replace_wrapped(self, changes: list[tuple[str, str, str, int]]) -> int:
        """(tag, old wrapped, new wrapped, version); a row shredded meanwhile is left alone."""
        result = await self._conn.execute(
            "UPDATE subject_keys k SET wrapped_key = c.new, kek_version = c.version"
            " FROM unnest($1::text[], $2::text[], $3::text[], $4::int[]) AS c(subject_tag, old, new, version)"
            " WHERE k.subject_tag = c.subject_tag AND k.wrapped_key = c.old"
            " AND k.subject_tag = ANY($1::text[])",  # by the key, whatever the statistics
            [c[0] for c in changes], [c[1] for c in changes], [c[2] for c in changes], [c[3] for c in changes])
        return int(result.split()[-1])

    async def kek_floor(self, controller_id: str | None) -> int:
        """Inside the transaction storing new keys: the lowest version of the controller's KEK they may
        be wrapped under. The share lock holds a rotation's raise of it, and an offboarding, off until
        they are committed (and visible); the row is made first, as there must be one to lock.
        ControllerOffboarded once the controller is: no key is stored for it again."""
        row = self._kek_row(controller_id)
        await self._ensure_kek_row(row)
        floor, offboarded = await self._conn.fetchrow(
            "SELECT floor, offboarded_at IS NOT NULL FROM controller_keks WHERE controller_id = $1 FOR SHARE", row)
        if offboarded:
            raise ControllerOffboarded(controller_id or "")
        return floor

    async def raise_kek_floor(self, controller_id: str | None, version: int) -> bool:
        """Raises the floor of the controller's KEK to `version` unless a live key of the controller is
        still wrapped below it (False, nothing changed): once raised, the versions below can be
        destroyed without stranding a key."""
        condition, controller = self._of_controller(controller_id)
        transaction = self._conn.transaction()
        await transaction.start()
        try:
            await self._conn.execute(
                "INSERT INTO controller_keks (controller_id, floor) VALUES ($1, $2)"
                " ON CONFLICT (controller_id) DO UPDATE SET floor = greatest(controller_keks.floor, $2)",
                self._kek_row(controller_id), version)
            if self._kek_row(controller_id) == "":  # replicas of the previous version read the old floor
                await self._conn.execute("UPDATE kek_floor SET version = greatest(version, $1)", version)
            left = await self._conn.fetchval(
                f"SELECT EXISTS (SELECT 1 FROM subject_keys WHERE {condition} AND state = $2 AND kek_version < $3)",
                controller, KeyState.ACTIVE.value, version)
        except BaseException:
            await transaction.rollback()
            raise
        await (transaction.rollback() if left else transaction.commit())
        return not left

    # Offboarding a controller: every key of its subjects at once

    async def offboarding(self, controller_id: str, *, for_update: bool = False) -> Certificate | None:
        """The certificate of the controller's offboarding, if it was offboarded. `for_update` (inside
        a transaction) waits for keys being stored and holds new ones off until the commit."""
        if for_update:
            await self._ensure_kek_row(controller_id)
        row = await self._conn.fetchrow(
            "SELECT certificate_json, certificate_sig, certificate_key FROM controller_keks WHERE controller_id = $1"
            + (" FOR UPDATE" if for_update else ""), controller_id)
        if row is None or row["certificate_json"] is None:
            return None
        return Certificate(bytes(row["certificate_json"]), bytes(row["certificate_sig"]), row["certificate_key"])

    async def live_keys(self, controller_id: str) -> list[tuple[str, str]]:
        """(tag, wrapped key column) of the controller's keys not yet tombstoned (live or being shredded)."""
        rows = await self._conn.fetch(
            "SELECT subject_tag, wrapped_key FROM subject_keys WHERE controller_id = $1 AND state = ANY($2::smallint[])",
            controller_id, [KeyState.ACTIVE.value, KeyState.SHREDDING.value])
        return [(r["subject_tag"], r["wrapped_key"]) for r in rows]

    async def offboard(self, controller_id: str, at: datetime, certificate: Certificate, tags: list[str]) -> None:
        """Records the offboarding and marks each of the controller's live keys SHREDDING (unusable from
        the commit, purged from every replica's cache); forgets the generations and event keys of
        `tags`, its live keys' (read under the same lock)."""
        await self._conn.execute(
            "UPDATE controller_keks SET offboarded_at = $2, certificate_json = $3, certificate_sig = $4,"
            " certificate_key = $5 WHERE controller_id = $1", controller_id, at, certificate.certificate_json,
            certificate.signature, certificate.key_id)
        await self._conn.execute("UPDATE subject_keys SET state = $2 WHERE controller_id = $1 AND state = $3",
                                 controller_id, KeyState.SHREDDING.value, KeyState.ACTIVE.value)
        await self._conn.execute("DELETE FROM purpose_generations WHERE subject_tag = ANY($1::text[])", tags)
        await destroy_event_keys(self._conn, tags)

    async def complete_offboarding(self, controller_id: str, certificate: Certificate) -> bool:
        """After Vault destroyed what it held: the controller's SHREDDING keys become tombstones that
        hold no key and point at the offboarding's certificate. Whether this completed the offboarding
        (False: an earlier call did)."""
        await self._conn.execute(
            "UPDATE subject_keys SET state = $2, wrapped_key = NULL, subject_ref = NULL,"
            " shredded_at = coalesce(shredded_at, now()), certificate_json = $4, certificate_sig = $5,"
            " certificate_key = $6 WHERE controller_id = $1 AND state = $3", controller_id,
            KeyState.SHREDDED.value, KeyState.SHREDDING.value, certificate.certificate_json, certificate.signature,
            certificate.key_id)
        result = await self._conn.execute(
            "UPDATE controller_keks SET completed_at = now() WHERE controller_id = $1 AND completed_at IS NULL",
            controller_id)
        return result == "UPDATE 1"
