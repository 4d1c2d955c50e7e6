"""What happened to requests and tasks, in the past tense. Each event is taken as the request stood
when it was emitted, so a request that moves on in the same unit of work (received, then verified)
yields one event per step."""

from dataclasses import dataclass
from datetime import datetime

from services.dsr.domain.model import Request, RequestType, Status, Task, TaskState


def _named(r: Request) -> str:
    """An erased person's request names nobody: its id still ties the event to the earlier ones."""
    return "" if r.erased else r.subject_id


@dataclass(frozen=True)
class RequestStatusChanged:
    request_id: str
    request_type: RequestType
    status: Status
    jurisdiction: str
    note: str
    due_at: datetime | None
    acknowledgement_due_at: datetime | None
    acknowledged_at: datetime | None
    subject_id: str
    type: str
    controller_id: str

    @classmethod
    def of(cls, r: Request, note: str = "", event_type: str = "") -> "RequestStatusChanged":
        """`note`: what the timeline says, by default the status's reason; `event_type`: for a change
        that is not a new status (an extension, an acknowledgement)."""
        return cls(r.request_id, r.type, r.status, r.jurisdiction, note or r.status_reason, r.due_at,
                   r.acknowledgement_due_at, r.acknowledged_at, _named(r),
                   event_type or f"dsr.request.{r.status.name.lower()}", r.controller_id)


@dataclass(frozen=True)
class TaskSettled:
    request_id: str
    task_id: str
    processor: str
    ok: bool
    reason: str
    subject_id: str
    controller_id: str

    @classmethod
    def of(cls, r: Request, t: Task) -> "TaskSettled":
        return cls(r.request_id, t.task_id, t.processor, t.state is TaskState.CONFIRMED, t.reason, _named(r),
                   r.controller_id)

    @property
    def type(self) -> str:
        return f"dsr.task.{'confirmed' if self.ok else 'failed'}"


Event = RequestStatusChanged | TaskSettled
