"""Receiving and deciding on requests: submission with its legal deadlines, acknowledgement of its
receipt, identity verification, extension and rejection. Every change commits with its event
(outbox) and a timeline entry. A request is a subject's of one controller; a caller reads and changes
only its controller's requests (`scope`: its controller, None for an operator), and another
controller's request is answered exactly as one that does not exist."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from services.common.idempotency import Idempotent, IdempotencyKey, Replayed
from services.common.ids import new_id
from services.dsr.domain import deadlines, errors
from services.dsr.domain.events import RequestStatusChanged
from services.dsr.domain.model import Rejection, Request, RequestType, Status
from services.dsr.service.ports import DsrUnits, DsrWork


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
    # Filed by a client that authenticated the person itself (the portal's sign-in; policy
    # `verifies_identity`): verified on receipt, by the evidence it names, and its receipt shown at once.
    verified_by: str = ""
    retention_driven: bool = False
    # The controller the subject is a subject of (required, by name).
    controller_id: str = field(kw_only=True)


@dataclass(frozen=True)
class DeadlinePolicy:
    china_working_days: int = 15
    default_days: int = 30
    complaint_route: str = "the competent data protection authority"

    def rule(self, jurisdiction: str, retention_driven: bool) -> deadlines.Rule:
        return deadlines.rule_for(jurisdiction, retention_driven_deletion=retention_driven,
                                  china_working_days=self.china_working_days, default_days=self.default_days)


class RequestService:
    def __init__(self, uow: DsrUnits, policy: DeadlinePolicy, clock: Callable[[], datetime] = utcnow) -> None:
        self._uow, self._policy, self._now = uow, policy, clock

    async def submit(self, s: Submission, key: IdempotencyKey) -> Request:
        """One request per idempotency key; a retry returns the first one as it stands now."""
        new_request_id = str(new_id())

        async def work(uow: DsrWork) -> Request:
            now = self._now()
            rule = self._policy.rule(s.jurisdiction, s.retention_driven)
            r = Request(new_request_id, s.type, s.subject_id, s.jurisdiction, Status.RECEIVED, now,
                        deadlines.first_deadline(rule, now), s.purpose_id, dict(s.corrections), s.details,
                        s.evidence_method, s.evidence_ref, automatic=s.automatic,
                        status_reason=f"due under {rule.law}", controller_id=s.controller_id)
            # Opened by the system, it answers no message of the person's: there is no receipt to confirm.
            if not s.automatic:
                r.acknowledgement_due_at = deadlines.acknowledgement_deadline(rule, now)
            if s.verified_by:  # the person filed it where they see its case number and receipt at once
                r.acknowledge(now)
            received = (r.status, r.status_reason)
            uow.emit(RequestStatusChanged.of(r))
            if s.automatic:
                r.move_to(Status.VERIFIED, "opened from a consent event: the person was authenticated there")
            elif s.verified_by:
                r.move_to(Status.VERIFIED, f"identity verified by {s.verified_by} ({s.evidence_method})")
            else:
                r.move_to(Status.VERIFICATION_PENDING, "waiting for the identity evidence to be checked")
            await uow.store.add(r, earlier=[received])
            uow.emit(RequestStatusChanged.of(r))
            return r
        return await self._once(key, new_request_id, work, s.controller_id)

    async def verify_identity(self, request_id: str, verified: bool, note: str, key: IdempotencyKey,
                              scope: str | None) -> Request:
        def decide(r: Request) -> str:
            if verified:
                r.move_to(Status.VERIFIED, note or "identity verified")
                return ""
            r.rejection = Rejection("identity-not-verified", note, self._policy.complaint_route)
            r.move_to(Status.REJECTED, note)
            return ""
        return await self._change(request_id, decide, key, scope)

    async def acknowledge(self, request_id: str, key: IdempotencyKey, scope: str | None) -> Request:
        """The operator confirmed the request's receipt to the person (CCPA Regs 7021(a))."""
        def acknowledge(r: Request) -> str:
            r.acknowledge(self._now())
            return "dsr.request.acknowledged"
        return await self._change(request_id, acknowledge, key, scope,
                                  note_from=lambda r: "receipt acknowledged to the person")

    def why_not_extendable(self, r: Request) -> str | None:
        """Why ExtendDeadline would refuse the request now; None if it would extend it."""
        if r.status.settled:
            return f"the request is already {r.status.name}"
        if r.extended:
            return "it was extended before; the law allows one extension"
        rule = self._policy.rule(r.jurisdiction, False)
        if not rule.extendable:
            return f"{rule.law} allows no extension"
        if self._now() >= r.due_at:
            return "only inside the first period, which has ended"
        return None

    async def extend(self, request_id: str, reason: str, key: IdempotencyKey, scope: str | None) -> Request:
        def extend(r: Request) -> str:
            if (why := self.why_not_extendable(r)) is not None:
                raise errors.ExtensionRefused(why)
            rule = self._policy.rule(r.jurisdiction, False)
            r.due_at = deadlines.extended_deadline(rule, r.received_at)
            r.extended, r.extension_reason = True, reason
            return "dsr.request.extended"
        return await self._change(request_id, extend, key, scope,
                                  note_from=lambda r: f"deadline extended: {reason}")

    async def reject(self, request_id: str, rejection: Rejection, key: IdempotencyKey,
                     scope: str | None) -> Request:
        def reject(r: Request) -> str:
            if r.begun:
                raise errors.RejectionRefused(r.request_id, "Consentry has begun carrying it out, which cannot be undone")
            r.rejection = rejection
            r.move_to(Status.REJECTED, f"{rejection.code}: {rejection.explanation}")
            return ""
        return await self._change(request_id, reject, key, scope)

    async def release_export(self, request_id: str, note: str, key: IdempotencyKey, scope: str | None) -> Request:
        """Staff reviewed the export of a finished access request: the person may now be given it."""
        def release(r: Request) -> str:
            r.release_export(self._now())
            return "dsr.request.export_released"
        return await self._change(request_id, release, key, scope,
                                  note_from=lambda r: f"export released to the person{': ' + note if note else ''}")

    async def _change(self, request_id: str, change: Callable[[Request], str], key: IdempotencyKey,
                      scope: str | None, note_from: Callable[[Request], str] | None = None) -> Request:
        async def work(uow: DsrWork) -> Request:
            r = await uow.store.get(request_id, for_update=True)
            if r is None or not r.seen_in(scope):
                raise errors.RequestNotFound(request_id)
            event_type = change(r)
            note = note_from(r) if note_from else ""
            await uow.store.save(r, note)
            uow.emit(RequestStatusChanged.of(r, note, event_type))
            return r
        return await self._once(key, request_id, work, scope)

    async def _once(self, key: IdempotencyKey, request_id: str, work: Callable[[DsrWork], Awaitable[Request]],
                    scope: str | None) -> Request:
        """The key's stored answer is the request's id, known before the work: a retry changes
        nothing and gets the request as it stands now, not as it stood."""
        async with self._uow() as uow:
            result = await uow.once(Idempotent(key, lambda r: r.request_id.encode()), lambda: work(uow),
                                    answer=request_id.encode())
            await uow.commit()
        return await self.get(result.answer.decode(), scope) if isinstance(result, Replayed) else result

    async def get(self, request_id: str, scope: str | None) -> Request:
        """`scope`: the caller's controller (None: an operator's, every controller)."""
        async with self._uow.autocommit() as store:
            r = await store.get(request_id)
        if r is None or not r.seen_in(scope):
            raise errors.RequestNotFound(request_id)
        return r
