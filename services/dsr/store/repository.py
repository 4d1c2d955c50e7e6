"""The dsr service's PostgreSQL store, on a unit of work's connection (services/common/uow.py)."""

from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg

from services.common.event_keys import destroy_event_keys
from services.common.outbox_retention import redact_persons
from services.dsr.domain.model import ERASED, Processor, Request, RequestType, Status, Task, TaskOutcome, TimelineEntry
from services.dsr.store.listing import HELD, Listing
from services.dsr.store.rows import (
    REQUEST_COLUMNS, entries_json, processor_from_row, request_from_row, request_values, task_from_row,
)

# Tasks named by id ($1) are found by the key, whatever the statistics: joined to an unnest alone,
# the plan PostgreSQL may keep for the statement seq-scans the table (planned while it was small).
_BY_KEY = "t.task_id = ANY($1::text[])"


class DsrStore:
    def __init__(self, conn: asyncpg.Connection, default_controller: str = "") -> None:
        """`default_controller`: whose the rows from before controllers are (controller_id NULL)."""
        self._conn, self._default = conn, default_controller

    def _request(self, row: asyncpg.Record) -> Request:
        return request_from_row(row, self._default)

    def _processor(self, row: asyncpg.Record) -> Processor:
        return processor_from_row(row, self._default)

    # Requests

    async def add(self, r: Request, earlier: Sequence[tuple[Status, str]] = ()) -> None:
        """The new request as it stands, its timeline starting with the states it passed through before."""
        now = datetime.now(UTC)
        r.timeline = [TimelineEntry(now, status, note) for status, note in (*earlier, (r.status, r.status_reason))]
        await self._conn.execute(
            f"INSERT INTO requests ({REQUEST_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,"
            " $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24::jsonb, $25, $26, $27, $28)",
            *request_values(r), entries_json(r.timeline), r.acknowledgement_due_at, r.acknowledged_at,
            r.controller_id or None, r.export_released_at)
        if r.status.settled:
            await self._conn.execute("UPDATE requests SET settled_at = now() WHERE request_id = $1", r.request_id)

    async def save(self, r: Request, note: str = "") -> None:
        """The request's changes, and an entry for its status on its timeline: `note`, or its reason."""
        entry = TimelineEntry(datetime.now(UTC), r.status, note or r.status_reason)
        await self._conn.execute(
            "UPDATE requests SET status = $2, due_at = $3, extended = $4, extension_reason = $5, status_reason = $6,"
            " rejection_code = $7, rejection_explanation = $8, complaint_route = $9, certificate = $10,"
            " certificate_signature = $11, starting_until = $12, timeline = timeline || $13::jsonb,"
            " settled_at = CASE WHEN $2::smallint IN (5, 6, 7) THEN coalesce(settled_at, now()) END,"
            " acknowledged_at = $14, export_released_at = $15 WHERE request_id = $1",
            r.request_id, r.status.value, r.due_at, r.extended, r.extension_reason, r.status_reason,
            r.rejection.code if r.rejection else None, r.rejection.explanation if r.rejection else None,
            r.rejection.complaint_route if r.rejection else None, r.certificate, r.certificate_signature,
            r.starting_until, entries_json([entry]), r.acknowledged_at, r.export_released_at)
        r.timeline.append(entry)

    async def get(self, request_id: str, *, for_update: bool = False) -> Request | None:
        lock = " FOR UPDATE" if for_update else ""
        row = await self._conn.fetchrow(f"SELECT {REQUEST_COLUMNS} FROM requests WHERE request_id = $1{lock}",
                                        request_id)
        return self._request(row) if row else None

    async def find(self, *, now: datetime, status: Status | None, overdue_only: bool, due_before: datetime | None,
                   subject_id: str, after: tuple[int, datetime, str] | None, limit: int,
                   subject_names: Sequence[str] = (), controller: str | None = None,
                   request_type: RequestType | None = None, jurisdiction: str = "", processor: str = "",
                   verified_only: bool = False) -> list[Request]:
        """Overdue requests first (bucket 0: unanswered past the deadline, or open past the one for
        acknowledging them, as Request.overdue), then the rest (bucket 1), each by due date and id.
        `subject_names`: every name the subject's rows may have (its id, its erased form);
        `controller`: one controller's requests only (None: every controller's)."""
        query = Listing(
            now=now, limit=limit, after=after, overdue_only=overdue_only, status=status, due_before=due_before,
            subject_names=(list(subject_names) or [subject_id]) if subject_id else (), controller=controller,
            default_controller=self._default, request_type=request_type, jurisdiction=jurisdiction,
            processor=processor, verified_only=verified_only).sql()
        if query is None:
            return []
        sql, args = query
        return [self._request(r) for r in await self._conn.fetch(sql, *args)]

    async def end_claim(self, request_id: str, at: datetime) -> None:
        await self._conn.execute("UPDATE requests SET starting_until = $2 WHERE request_id = $1", request_id, at)

    async def lock_requests(self, request_ids: list[str]) -> dict[str, Request]:
        """Locked in id order, so two settlers of overlapping batches cannot deadlock on each other."""
        rows = await self._conn.fetch(
            f"SELECT {REQUEST_COLUMNS} FROM requests WHERE request_id = ANY($1::text[]) ORDER BY request_id"
            " FOR UPDATE", request_ids)
        return {r["request_id"]: self._request(r) for r in rows}

    async def verified(self, now: datetime, limit: int) -> list[str]:
        """Ids of verified requests nobody is starting (or whose starter's claim ran out), oldest first."""
        rows = await self._conn.fetch(  # the status written out: a plan made without values still uses requests_verified
            f"SELECT request_id FROM requests WHERE status = {Status.VERIFIED.value}"
            " AND (starting_until IS NULL OR starting_until < $1) ORDER BY received_at LIMIT $2", now, limit)
        return [r["request_id"] for r in rows]

    async def claim_start(self, request_id: str, now: datetime, until: datetime, holder: str = "") -> Request | None:
        """The request, claimed by `holder` until `until` for carrying out Consentry's own part, if it
        is still VERIFIED and nobody else holds a claim that runs past `now`; None otherwise."""
        row = await self._conn.fetchrow(
            f"UPDATE requests SET starting_until = $3, starting_by = $5 WHERE request_id = $1 AND status = $4"
            f" AND (starting_until IS NULL OR starting_until < $2) RETURNING {REQUEST_COLUMNS}",
            request_id, now, until, Status.VERIFIED.value, holder)
        return self._request(row) if row else None

    async def renew_claims(self, holder: str, until: datetime) -> int:
        """Moves the end of every claim `holder` still holds (of requests still VERIFIED) to `until`."""
        result = await self._conn.execute(  # the status written out, as in `verified`: the index of verified requests
            f"UPDATE requests SET starting_until = $2 WHERE status = {Status.VERIFIED.value} AND starting_by = $1"
            " AND starting_until > now()", holder, until)
        return int(result.split()[-1])

    async def set_export(self, request_id: str, export: bytes) -> None:
        await self._conn.execute("UPDATE requests SET export_json = $2 WHERE request_id = $1", request_id, export)

    async def export(self, request_id: str) -> bytes | None:
        value = await self._conn.fetchval("SELECT export_json FROM requests WHERE request_id = $1", request_id)
        return bytes(value) if value is not None else None

    # Processors

    async def register(self, p: Processor) -> Processor:
        row = await self._conn.fetchrow(
            "INSERT INTO processors (name, capabilities, purpose_ids, controller_id) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (name) DO UPDATE SET capabilities = $2, purpose_ids = $3, controller_id = $4"
            " RETURNING registered_at",
            p.name, sorted(p.capabilities), sorted(p.purpose_ids), p.controller_id or None)
        return Processor(p.name, p.capabilities, p.purpose_ids, row["registered_at"], p.controller_id)

    async def processors(self, after: str = "", limit: int | None = None,
                         controller: str | None = None) -> list[Processor]:
        """`controller`: one controller's processors only (None: every controller's)."""
        rows = await self._conn.fetch(
            "SELECT * FROM processors WHERE name > $1 AND ($3::text IS NULL OR coalesce(controller_id, $4) = $3)"
            " ORDER BY name LIMIT $2", after, limit, controller, self._default)
        return [self._processor(r) for r in rows]

    async def deregister(self, name: str) -> Processor | None:
        row = await self._conn.fetchrow("DELETE FROM processors WHERE name = $1 RETURNING *", name)
        return self._processor(row) if row else None

    async def open_tasks(self, processor: str, task_ids: list[str] | None = None) -> list[tuple[Task, Request]]:
        """The processor's PENDING and SENT tasks (of those ids, when given), each with its request."""
        rows = await self._conn.fetch(
            "SELECT * FROM tasks WHERE processor = $1 AND state IN ('PENDING', 'SENT')"
            " AND ($2::text[] IS NULL OR task_id = ANY($2::text[])) ORDER BY task_id", processor, task_ids)
        return await self._with_requests([task_from_row(r) for r in rows])

    # Tasks

    async def add_tasks(self, tasks: list[Task]) -> None:
        await self._conn.execute(
            "INSERT INTO tasks (task_id, request_id, processor, action, state, next_attempt_at, result_key)"
            " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[],"
            " $7::bytea[]) ON CONFLICT (request_id, processor) DO NOTHING",
            [t.task_id for t in tasks], [t.request_id for t in tasks], [t.processor for t in tasks],
            [t.action for t in tasks], [t.state.value for t in tasks], [t.next_attempt_at for t in tasks],
            [t.result_key for t in tasks])

    async def result_keys(self, task_ids: list[str]) -> dict[str, bytes]:
        rows = await self._conn.fetch("SELECT task_id, result_key FROM tasks WHERE task_id = ANY($1::text[])"
                                      " AND result_key IS NOT NULL", task_ids)
        return {r["task_id"]: bytes(r["result_key"]) for r in rows}

    async def tasks_of(self, request_ids: list[str]) -> dict[str, list[Task]]:
        rows = await self._conn.fetch("SELECT * FROM tasks WHERE request_id = ANY($1::text[]) ORDER BY processor",
                                      request_ids)
        found: dict[str, list[Task]] = {request_id: [] for request_id in request_ids}
        for row in rows:
            found[row["request_id"]].append(task_from_row(row))
        return found

    async def settle(self, outcomes: Sequence[TaskOutcome]) -> list[Task]:
        """Marks outstanding tasks confirmed or failed; those unknown, settled before, or answered by
        another processor than the task's are left out."""
        rows = await self._conn.fetch(
            "UPDATE tasks t SET state = CASE WHEN o.ok THEN 'CONFIRMED' ELSE 'FAILED' END, reason = o.note,"
            " data_json = o.data_json, confirmed_at = $6, next_attempt_at = NULL"
            " FROM unnest($1::text[], $2::text[], $3::boolean[], $4::text[], $5::bytea[])"
            " AS o(task_id, processor, ok, note, data_json)"
            " WHERE t.task_id = o.task_id AND t.processor = o.processor AND t.state IN ('PENDING', 'SENT')"
            f" AND {_BY_KEY} RETURNING t.*",
            [o.task_id for o in outcomes], [o.processor for o in outcomes], [o.ok for o in outcomes],
            [o.note for o in outcomes], [o.data_json for o in outcomes], datetime.now(UTC))
        return [task_from_row(r) for r in rows]

    async def due_tasks(self, now: datetime, window: int, limit: int) -> list[tuple[Task, Request]]:
        """Tasks to send (again), each with its request; locked, and skipped by other replicas meanwhile.

        Unconfirmed tasks past their wait come first. New ones follow, oldest first, only as far as
        each processor has fewer than `window` tasks out on their first attempt: a processor's backlog
        stays in this table, not in its topic, where it would outlast the confirmation timeout and be
        sent twice. A task sent again no longer holds a place, so a processor that stopped answering
        still gets its whole backlog, and every task fails after its attempts as it did unwindowed."""
        late = await self._conn.fetch(
            "SELECT * FROM tasks WHERE state = 'SENT' AND next_attempt_at <= $1"
            " ORDER BY next_attempt_at, task_id LIMIT $2 FOR UPDATE SKIP LOCKED", now, limit)
        fresh = await self._conn.fetch(
            "SELECT t.* FROM processors p CROSS JOIN LATERAL ("
            " SELECT * FROM tasks t WHERE t.processor = p.name AND t.state = 'PENDING' AND t.next_attempt_at <= $1"
            " ORDER BY t.next_attempt_at, t.task_id LIMIT greatest(0, $2 - (SELECT count(*) FROM tasks s"
            "  WHERE s.processor = p.name AND s.state = 'SENT' AND s.attempts = 1))"
            " FOR UPDATE SKIP LOCKED) t LIMIT $3", now, window, max(0, limit - len(late)))
        return await self._with_requests([task_from_row(r) for r in (*late, *fresh)])

    async def _with_requests(self, tasks: list[Task]) -> list[tuple[Task, Request]]:
        if not tasks:
            return []
        rows = await self._conn.fetch(f"SELECT {REQUEST_COLUMNS} FROM requests WHERE request_id = ANY($1::text[])",
                                      list({t.request_id for t in tasks}))
        requests = {r["request_id"]: self._request(r) for r in rows}
        return [(t, requests[t.request_id]) for t in tasks]

    async def mark_sent(self, tasks: list[Task]) -> None:
        """Records each task's attempt: its count, when to send it again, and why if it is a repeat."""
        await self._conn.execute(
            "UPDATE tasks t SET state = 'SENT', attempts = s.attempts, next_attempt_at = s.next_attempt_at,"
            " reason = s.reason FROM unnest($1::text[], $2::int[], $3::timestamptz[], $4::text[])"
            f" AS s(task_id, attempts, next_attempt_at, reason) WHERE t.task_id = s.task_id AND {_BY_KEY}",
            [t.task_id for t in tasks], [t.attempts for t in tasks], [t.next_attempt_at for t in tasks],
            [t.reason for t in tasks])

    # Forgetting (services/dsr/service/forgetting.py)

    async def forget_people(self, tags: dict[tuple[str, str], str]) -> int:
        """Every settled request of these subjects ((controller, subject id): keyed tag) stops naming
        them: each id becomes its tombstone, and what else could identify them (evidence, corrections,
        free text, export, results) goes. dsr's outbox stops naming them and their event keys are
        destroyed, so their events on the broker open to nobody. The same person's requests at another
        controller are another subject's, and stay."""
        forgotten = await self._conn.fetch(
            f"UPDATE requests r SET subject_id = t.tombstone, {_FORGOTTEN}"
            " FROM unnest($1::text[], $2::text[], $3::text[]) AS t(controller_id, subject_id, tombstone)"
            " WHERE r.subject_id = t.subject_id AND coalesce(r.controller_id, $4) = t.controller_id"
            " AND r.status IN (5, 6, 7) AND r.subject_id = ANY($2::text[])"  # by the index, whatever the statistics
            " RETURNING r.request_id",
            [c for c, _ in tags], [s for _, s in tags], [ERASED + tag for tag in tags.values()], self._default)
        await self._forget_tasks([r["request_id"] for r in forgotten])
        by_controller: dict[str, list[str]] = {}
        for controller, subject in tags:
            by_controller.setdefault(controller, []).append(subject)
        for controller, subjects in sorted(by_controller.items()):
            await redact_persons(self._conn, subjects, controller)
        await destroy_event_keys(self._conn, list(tags.values()))
        return len(forgotten)

    async def forget_settled(self, before: datetime, limit: int) -> int:
        """Requests answered before `before` (settled, and any export released): their evidence, corrections,
        free text and export go. An export held for review is kept until it is released, and counts from then."""
        forgotten = await self._conn.fetch(
            f"UPDATE requests SET {_FORGOTTEN} WHERE request_id IN (SELECT request_id FROM requests"
            f" WHERE forgotten_at IS NULL AND settled_at < $1 AND NOT {HELD}"
            " AND (export_released_at IS NULL OR export_released_at < $1)"
            " ORDER BY settled_at LIMIT $2 FOR UPDATE SKIP LOCKED)"
            " RETURNING request_id", before, limit)
        await self._forget_tasks([r["request_id"] for r in forgotten])
        return len(forgotten)

    async def _forget_tasks(self, request_ids: list[str]) -> None:
        await self._conn.execute("UPDATE tasks SET data_json = '', result_key = NULL"
                                 " WHERE request_id = ANY($1::text[])", request_ids)


_FORGOTTEN = ("corrections = '{}', details = '', evidence_ref = '', export_json = NULL,"
              " forgotten_at = coalesce(forgotten_at, now())")
