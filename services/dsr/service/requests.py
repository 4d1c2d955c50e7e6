"""Receiving and deciding on requests: submission with its legal deadlines, acknowledgement of its
receipt, identity verification, extension and rejection. Every change commits with its event
(outbox) and a timeline entry."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg

from services.common.idempotency import IdempotencyScope, fingerprint
from services.common.idempotency import run_once_decoded as run_once
from services.common.ids import new_id
from services.common.outbox import add_events
from services.dsr.domain import deadlines, errors
from services.dsr.domain.model import Rejection, Request, RequestType, Status
from services.dsr.events.payloads import status_changed
from services.dsr.store.repository import DsrStore


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Submission:
    type: RequestType
    subject_id: str
    jurisdiction: str
    evidence_method: str = ""
    evidence_ref: str = ""
    purpose_id: str = ""
    corrections: dict[str, str] = field(default_factory=dict)
    details: str = ""
    # Opened by the system from consent.events: the consent service already authenticated the person.
    automatic: bool = False
    retention_driven: bool = False


@dataclass(frozen=True)
class DeadlinePolicy:
    china_working_days: int = 15
    default_days: int = 30
    complaint_route: str = "the competent data protection authority"

    def rule(self, jurisdiction: str, retention_driven: bool) -> deadlines.Rule:
        return deadlines.rule_for(jurisdiction, retention_driven_deletion=retention_driven,
                                  china_working_days=self.china_working_days, default_days=self.default_days)


class RequestService:
    def __init__(self, pool: asyncpg.Pool, policy: DeadlinePolicy, on_commit: Callable[[], None],
                 clock: Callable[[], datetime] = utcnow) -> None:
        self._pool, self._policy, self._on_commit, self._now = pool, policy, on_commit, clock

    async def submit(self, s: Submission, scope: IdempotencyScope, request_bytes: bytes) -> Request:
        """One request per idempotency key; a retry returns the first one as it stands now."""
        created: list[Request] = []
        new_request_id = str(new_id())

        async def work() -> str:
            now = self._now()
            rule = self._policy.rule(s.jurisdiction, s.retention_driven)
            r = Request(new_request_id, s.type, s.subject_id, s.jurisdiction, Status.RECEIVED, now,
                        deadlines.first_deadline(rule, now), s.purpose_id, dict(s.corrections), s.details,
                        s.evidence_method, s.evidence_ref, automatic=s.automatic,
                        status_reason=f"due under {rule.law}")
            # Opened by the system, it answers no message of the person's: there is no receipt to confirm.
            if not s.automatic:
                r.acknowledgement_due_at = deadlines.acknowledgement_deadline(rule, now)
            received, received_event = (r.status, r.status_reason), status_changed(r)
            if s.automatic:
                r.move_to(Status.VERIFIED, "opened from a consent event: the person was authenticated there")
            else:
                r.move_to(Status.VERIFICATION_PENDING, "waiting for the identity evidence to be checked")
            await DsrStore(conn).add(r, earlier=[received])
            await add_events(conn, [received_event, status_changed(r)])
            created.append(r)
            return r.request_id

        async with self._pool.acquire() as conn, conn.transaction():
            request_id = await run_once(conn, scope, fingerprint(request_bytes), work, str.encode, bytes.decode,
                                        answer=new_request_id)
        self._on_commit()
        return created[0] if created else await self.get(request_id)

    async def verify_identity(self, request_id: str, verified: bool, note: str, scope: IdempotencyScope,
                              request_bytes: bytes) -> Request:
        def decide(r: Request) -> str:
            if verified:
                r.move_to(Status.VERIFIED, note or "identity verified")
                return ""
            r.rejection = Rejection("identity-not-verified", note, self._policy.complaint_route)
            r.move_to(Status.REJECTED, note)
            return ""
        return await self._change(request_id, decide, scope, request_bytes)

    async def acknowledge(self, request_id: str, scope: IdempotencyScope, request_bytes: bytes) -> Request:
        """The operator confirmed the request's receipt to the person (CCPA Regs 7021(a))."""
        def acknowledge(r: Request) -> str:
            r.acknowledge(self._now())
            return "dsr.request.acknowledged"
        return await self._change(request_id, acknowledge, scope, request_bytes,
                                  note_from=lambda r: "receipt acknowledged to the person")

    async def extend(self, request_id: str, reason: str, scope: IdempotencyScope, request_bytes: bytes) -> Request:
        def extend(r: Request) -> str:
            if r.status.settled:
                raise errors.ExtensionRefused(f"the request is already {r.status.name}")
            if r.extended:
                raise errors.ExtensionRefused("it was extended before; the law allows one extension")
            rule = self._policy.rule(r.jurisdiction, False)
            if not rule.extendable:
                raise errors.ExtensionRefused(f"{rule.law} allows no extension")
            if self._now() >= r.due_at:
                raise errors.ExtensionRefused("only inside the first period, which has ended")
            r.due_at = deadlines.extended_deadline(rule, r.received_at)
            r.extended, r.extension_reason = True, reason
            return "dsr.request.extended"
        return await self._change(request_id, extend, scope, request_bytes,
                                  note_from=lambda r: f"deadline extended: {reason}")

    async def reject(self, request_id: str, rejection: Rejection, scope: IdempotencyScope,
                     request_bytes: bytes) -> Request:
        def reject(r: Request) -> str:
            if r.begun:
                raise errors.RejectionRefused(r.request_id, "Consentry has begun carrying it out, which cannot be undone")
            r.rejection = rejection
            r.move_to(Status.REJECTED, f"{rejection.code}: {rejection.explanation}")
            return ""
        return await self._change(request_id, reject, scope, request_bytes)

    async def _change(self, request_id: str, change: Callable[[Request], str], scope: IdempotencyScope,
                      request_bytes: bytes, note_from: Callable[[Request], str] | None = None) -> Request:
        """A retry with the same idempotency key changes nothing and returns the request as it is now."""
        changed: list[Request] = []

        async def work() -> str:
            store = DsrStore(conn)
            r = await store.get(request_id, for_update=True)
            if r is None:
                raise errors.RequestNotFound(request_id)
            event_type = change(r)
            note = note_from(r) if note_from else ""
            await store.save(r, note)
            await add_events(conn, [status_changed(r, note, event_type)])
            changed.append(r)
            return request_id

        async with self._pool.acquire() as conn, conn.transaction():
            await run_once(conn, scope, fingerprint(request_bytes), work, str.encode, bytes.decode, answer=request_id)
        self._on_commit()
        return changed[0] if changed else await self.get(request_id)

    async def get(self, request_id: str) -> Request:
        async with self._pool.acquire() as conn:
            r = await DsrStore(conn).get(request_id)
        if r is None:
            raise errors.RequestNotFound(request_id)
        return r
