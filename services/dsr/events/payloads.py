"""dsr.events: each change of a request's status, each settled task, as an outbox row."""

from datetime import UTC, datetime

from consentry.dsr.v1 import events_pb2, tasks_pb2
from services.common.ids import new_id
from services.common.outbox import PendingEvent
from services.common.timestamps import to_timestamp
from services.dsr.domain.model import Request, Task


def status_changed(r: Request, note: str = "", event_type: str = "") -> PendingEvent:
    payload = events_pb2.RequestStatusChanged(request_id=r.request_id, type=r.type.name, status=r.status.name,
                                              jurisdiction=r.jurisdiction, note=note or r.status_reason,
                                              due_at=to_timestamp(r.due_at),
                                              acknowledgement_due_at=to_timestamp(r.acknowledgement_due_at),
                                              acknowledged_at=to_timestamp(r.acknowledged_at))
    return PendingEvent(new_id(), event_type or f"dsr.request.{r.status.name.lower()}", _named(r), payload,
                        datetime.now(UTC))


def task_settled(r: Request, t: Task) -> PendingEvent:
    ok = t.state.value == "CONFIRMED"
    payload = events_pb2.TaskSettled(request_id=r.request_id, task_id=t.task_id, processor=t.processor, ok=ok,
                                     reason=t.reason)
    return PendingEvent(new_id(), f"dsr.task.{'confirmed' if ok else 'failed'}", _named(r), payload,
                        datetime.now(UTC))


def _named(r: Request) -> str:
    """An erased person's request names nobody: its id still ties the event to the earlier ones."""
    return "" if r.erased else r.subject_id


def task_notice(task: Task) -> tasks_pb2.DsrTask:
    """A task as it travels on its processor's topic: ids only. Who and what (subject, purpose,
    corrections) the processor learns from ConfirmTasks, so nothing on the broker names the person."""
    return tasks_pb2.DsrTask(task_id=task.task_id, request_id=task.request_id, processor=task.processor,
                             action=task.action, attempt=max(task.attempts, 1))


def task_message(task: Task, r: Request) -> tasks_pb2.DsrTask:
    """A task whole, as ConfirmTasks answers it to its processor."""
    return tasks_pb2.DsrTask(task_id=task.task_id, request_id=task.request_id, processor=task.processor,
                             action=task.action, subject_id=r.subject_id, purpose_id=r.purpose_id,
                             corrections=r.corrections, attempt=max(task.attempts, 1),
                             result_key=task.result_key or b"")
