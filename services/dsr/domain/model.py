"""Data-subject requests and the tasks that carry them to each face system. Plain Python."""

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from services.dsr.domain.errors import AcknowledgementRefused, ExportReleaseRefused, InvalidTransition


class RequestType(Enum):
    ACCESS = 1
    CORRECTION = 2
    DELETION = 3
    WITHDRAWAL = 4
    PORTABILITY = 5


class Status(Enum):
    RECEIVED = 1
    VERIFICATION_PENDING = 2
    VERIFIED = 3
    IN_PROGRESS = 4
    COMPLETED = 5
    REJECTED = 6
    PARTIALLY_COMPLETED = 7

    @property
    def finished(self) -> bool:
        """Carried out, wholly or in part: an access request's export is written."""
        return self in (Status.COMPLETED, Status.PARTIALLY_COMPLETED)

    @property
    def settled(self) -> bool:
        return self in (Status.COMPLETED, Status.REJECTED, Status.PARTIALLY_COMPLETED)

    @property
    def has_tasks(self) -> bool:
        """Tasks are created with the move to IN_PROGRESS."""
        return self in (Status.IN_PROGRESS, Status.COMPLETED, Status.PARTIALLY_COMPLETED)


NEXT: dict[Status, set[Status]] = {
    Status.RECEIVED: {Status.VERIFICATION_PENDING, Status.VERIFIED, Status.REJECTED},
    Status.VERIFICATION_PENDING: {Status.VERIFIED, Status.REJECTED},
    Status.VERIFIED: {Status.IN_PROGRESS, Status.REJECTED},
    Status.IN_PROGRESS: {Status.COMPLETED, Status.PARTIALLY_COMPLETED},
}


class TaskState(Enum):
    PENDING = "PENDING"
    SENT = "SENT"
    CONFIRMED = "CONFIRMED"
    FAILED = "FAILED"


@dataclass(frozen=True)
class TaskOutcome:
    """An answer to one task: `note` is its summary when done, its reason when failed. It counts only
    from `processor`, the one the task was sent to. `data_json`: an access result's data, sealed as it
    came (`sealed`) until settlement opens it with the task's key."""
    task_id: str
    processor: str
    ok: bool
    note: str
    data_json: bytes = b""
    sealed: bool = False


# What each request type asks of a processor, and the capability it needs for that.
ACTIONS = {
    RequestType.ACCESS: "access", RequestType.PORTABILITY: "access", RequestType.DELETION: "delete",
    RequestType.WITHDRAWAL: "delete", RequestType.CORRECTION: "correct",
}
CAPABILITY_FOR = {"access": "access", "delete": "delete", "correct": "correct"}


# What the person receives an export of: the data Consentry and every processor hold about them.
EXPORTABLE = (RequestType.ACCESS, RequestType.PORTABILITY)

# A deleted person's requests name them by this and their keyed tombstone (services/common/erasure.py).
ERASED = "erased:"


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    status: Status
    note: str


@dataclass(frozen=True)
class Rejection:
    code: str
    explanation: str
    complaint_route: str


@dataclass
class Request:
    request_id: str
    type: RequestType
    subject_id: str
    jurisdiction: str
    status: Status
    received_at: datetime
    due_at: datetime
    purpose_id: str = ""
    corrections: dict[str, str] = field(default_factory=dict)
    details: str = ""
    evidence_method: str = ""
    evidence_ref: str = ""
    extended: bool = False
    extension_reason: str = ""
    status_reason: str = ""
    rejection: Rejection | None = None
    certificate: bytes = b""
    certificate_signature: bytes = b""
    # Set only by the system itself (withdrawal or expiry seen on consent.events).
    automatic: bool = False
    # Set once an orchestrator claims the request to carry out Consentry's own part: until then another
    # may not start it too (a crashed starter's claim runs out), and from then on it cannot be rejected,
    # since the erasure cannot be undone.
    starting_until: datetime | None = None
    starting_by: str | None = None
    # Every status the request had, with when and why; the store appends as it saves.
    timeline: list[TimelineEntry] = field(default_factory=list)
    # Where the law asks that receipt be confirmed to the person (CCPA): by when, and when it was.
    acknowledgement_due_at: datetime | None = None
    acknowledged_at: datetime | None = None
    # The controller the subject is a subject of (the same person at two controllers is two subjects).
    # A request from before controllers is the default controller's, as the store reads it.
    controller_id: str = ""
    # When staff released an access request's export to the person, having reviewed it; None until then.
    export_released_at: datetime | None = None

    @property
    def erased(self) -> bool:
        """The request deleted its person: it names them only by the keyed tombstone."""
        return self.subject_id.startswith(ERASED)

    def seen_in(self, scope: str | None) -> bool:
        """Whether a caller reading in `scope` (a controller; None: an operator, every controller) sees it."""
        return scope is None or scope == self.controller_id

    @property
    def begun(self) -> bool:
        return self.starting_until is not None

    def awaits_acknowledgement(self, now: datetime) -> bool:
        """Open, its receipt not acknowledged, and the time the law gives for that has passed."""
        return (not self.status.settled and self.acknowledged_at is None
                and self.acknowledgement_due_at is not None and self.acknowledgement_due_at < now)

    @property
    def awaits_release(self) -> bool:
        """Its export is written and held for review: the person has not been given it yet (nor erased, which
        takes the export with them)."""
        return (self.type in EXPORTABLE and self.status.finished and self.export_released_at is None
                and not self.erased)

    @property
    def answered(self) -> bool:
        """The person has their answer: the request is settled and any export released to them."""
        return self.status.settled and not self.awaits_release

    def overdue(self, now: datetime) -> bool:
        """Unanswered past its deadline (an export held for review counts as no answer), or open past the
        deadline for acknowledging it (DsrStore.find says the same in SQL)."""
        return not self.answered and (self.due_at < now or self.awaits_acknowledgement(now))

    def release_export(self, at: datetime) -> None:
        if self.type not in EXPORTABLE:
            raise ExportReleaseRefused(self.request_id, f"a {self.type.name} request has no export")
        if not self.status.finished:
            raise ExportReleaseRefused(self.request_id, f"it is {self.status.name}: its export is not written yet")
        if self.export_released_at is not None:
            raise ExportReleaseRefused(self.request_id, f"it was released at {self.export_released_at.isoformat()}")
        if self.erased:
            raise ExportReleaseRefused(self.request_id, "its person was erased, and the export with them")
        self.export_released_at = at

    def acknowledge(self, at: datetime) -> None:
        if self.status.settled:
            raise AcknowledgementRefused(self.request_id, f"it is already {self.status.name}: the answer was given")
        if self.acknowledged_at is not None:
            raise AcknowledgementRefused(self.request_id, f"it was acknowledged at {self.acknowledged_at.isoformat()}")
        self.acknowledged_at = at

    def move_to(self, status: Status, reason: str = "") -> None:
        if status not in NEXT.get(self.status, set()):
            raise InvalidTransition(self.request_id, self.status.name, status.name)
        self.status = status
        self.status_reason = reason


@dataclass
class Task:
    task_id: str
    request_id: str
    processor: str
    action: str
    state: TaskState = TaskState.PENDING
    attempts: int = 0
    reason: str = ""
    next_attempt_at: datetime | None = None
    confirmed_at: datetime | None = None
    data_json: bytes = b""
    # An access task's: what its processor seals the result's data under (consentry_client.sealing).
    result_key: bytes | None = None


@dataclass(frozen=True)
class Processor:
    name: str
    capabilities: frozenset[str]
    purpose_ids: frozenset[str]
    registered_at: datetime | None = None
    # The controller whose tasks it serves, and only those: its client's controller.
    controller_id: str = ""

    def takes(self, action: str, purpose_id: str) -> bool:
        """Withdrawal and expiry concern one purpose: only processors holding it get the task."""
        if CAPABILITY_FOR[action] not in self.capabilities:
            return False
        return not purpose_id or purpose_id in self.purpose_ids
