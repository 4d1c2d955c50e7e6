"""Requests as the console shows them to staff: everything a DPO reviews (the identity evidence, each
processor's state and reason, the whole timeline with its notes) and what may still be done."""

from dataclasses import dataclass
from datetime import datetime

from services.portal.domain.requests import Kind, Rejection, Stage

UNVERIFIED = (Stage.RECEIVED, Stage.VERIFICATION_PENDING)


@dataclass(frozen=True)
class Event:
    at: datetime
    stage: Stage
    note: str


@dataclass(frozen=True)
class ProcessorTask:
    processor: str
    state: str  # pending, sent, confirmed, failed
    attempts: int
    reason: str
    confirmed_at: datetime | None


@dataclass(frozen=True)
class StaffCase:
    request_id: str
    controller_id: str
    subject_id: str
    kind: Kind
    stage: Stage
    jurisdiction: str
    purpose_id: str
    received_at: datetime
    due_at: datetime
    extended: bool
    extension_reason: str
    status_reason: str
    evidence_method: str
    evidence_reference: str
    acknowledgement_due_at: datetime | None
    acknowledged_at: datetime | None
    timeline: tuple[Event, ...]
    tasks: tuple[ProcessorTask, ...]
    rejection: Rejection | None
    extendable: bool = False  # the law allows one extension, not yet used, inside the first period
    export_released_at: datetime | None = None  # when the export was released to the person

    def days_left(self, now: datetime) -> int:
        """Whole days to the deadline; negative once it passed."""
        return (self.due_at - now).days

    def overdue(self, now: datetime) -> bool:
        """Unanswered past the deadline: open, or its export still held for review."""
        return (not self.stage.done or self.awaits_release) and self.due_at < now

    @property
    def may_verify(self) -> bool:
        return self.stage in UNVERIFIED

    def may_extend(self, now: datetime) -> bool:
        """Where the law allows it: once, and only inside the first period (as dsr says)."""
        return self.extendable and now < self.due_at

    @property
    def may_reject(self) -> bool:
        return not self.stage.done

    @property
    def may_acknowledge(self) -> bool:
        return self.acknowledgement_due_at is not None and self.acknowledged_at is None and not self.stage.done

    @property
    def has_export(self) -> bool:
        return self.kind.exports and self.stage.finished

    @property
    def awaits_release(self) -> bool:
        """Its export is written and held until staff review and release it to the person."""
        return self.has_export and self.export_released_at is None


@dataclass(frozen=True)
class QueueFilter:
    kind: Kind | None = None
    stage: Stage | None = None
    jurisdiction: str = ""
    processor: str = ""
    controller_id: str = ""  # the platform's staff only: one controller ("" every one)
    overdue_only: bool = False
    due_within_days: int = 0
    with_unverified: bool = False  # unverified requests are hidden unless asked for (or their stage is)
