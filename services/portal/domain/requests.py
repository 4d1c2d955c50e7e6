"""A person's requests at one controller, as the portal shows them: their case number (the request
id), what they asked, where the request stands and by when the law wants the answer."""

from dataclasses import dataclass
from datetime import datetime
from enum import Enum


class Kind(Enum):
    ACCESS = "access"
    CORRECTION = "correction"
    DELETION = "deletion"
    WITHDRAWAL = "withdrawal"
    PORTABILITY = "portability"

    @property
    def exports(self) -> bool:
        return self in (Kind.ACCESS, Kind.PORTABILITY)


class Stage(Enum):
    RECEIVED = "received"
    VERIFICATION_PENDING = "verification_pending"
    VERIFIED = "verified"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    REJECTED = "rejected"
    PARTIALLY_COMPLETED = "partially_completed"

    @property
    def done(self) -> bool:
        return self in (Stage.COMPLETED, Stage.REJECTED, Stage.PARTIALLY_COMPLETED)

    @property
    def finished(self) -> bool:
        """Carried out, wholly or in part: an access request's export is written."""
        return self in (Stage.COMPLETED, Stage.PARTIALLY_COMPLETED)


@dataclass(frozen=True)
class Step:
    at: datetime
    stage: Stage


@dataclass(frozen=True)
class Rejection:
    code: str
    explanation: str
    complaint_route: str


@dataclass(frozen=True)
class Case:
    request_id: str
    kind: Kind
    stage: Stage
    purpose_id: str
    received_at: datetime
    due_at: datetime
    law: str  # the law that sets the deadline, as cited ("GDPR Art. 12(3)", "PIPL 50")
    extended: bool
    timeline: tuple[Step, ...]
    rejection: Rejection | None
    certificate: bytes  # DELETION, once completed: keyvault's deletion certificate (canonical JSON)
    certificate_signature: bytes
    export_released: bool = False  # staff reviewed the export and released it to the person

    @property
    def has_export(self) -> bool:
        return self.kind.exports and self.stage.finished and self.export_released

    @property
    def awaits_release(self) -> bool:
        """The export is written and staff are reviewing it before the person is given it."""
        return self.kind.exports and self.stage.finished and not self.export_released
