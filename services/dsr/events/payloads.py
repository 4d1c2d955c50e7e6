"""dsr.events: each change of a request's status, each settled task, as an outbox row; and a task as
it travels to its processor and as ConfirmTasks answers it."""

import uuid
from datetime import UTC, datetime

from consentry.dsr.v1 import events_pb2, tasks_pb2
from services.common.outbox import PendingEvent
from services.common.timestamps import to_timestamp
from services.dsr.domain import events as ev
from services.dsr.domain.model import Request, Task

# The domain's actions (services/dsr/domain/model.py ACTIONS) as the wire names them.
TASK_ACTIONS = {"access": tasks_pb2.TASK_ACTION_ACCESS, "delete": tasks_pb2.TASK_ACTION_DELETE,
                "correct": tasks_pb2.TASK_ACTION_CORRECT}


def to_pending(event_id: str, event: ev.Event) -> PendingEvent:
    """With the request's controller: the relay seals each (controller, subject) under its own key."""
    return PendingEvent(uuid.UUID(event_id), event.type, event.subject_id, _payload(event), datetime.now(UTC),
                        controller_id=event.controller_id or None)


def _payload(event: ev.Event):
    match event:
        case ev.RequestStatusChanged():
            return events_pb2.RequestStatusChanged(
                request_id=event.request_id, request_type=event.request_type.value,
                request_status=event.status.value, jurisdiction=event.jurisdiction, note=event.note,
                due_at=to_timestamp(event.due_at),
                acknowledgement_due_at=to_timestamp(event.acknowledgement_due_at),
                acknowledged_at=to_timestamp(event.acknowledged_at))
        case ev.TaskSettled():
            return events_pb2.TaskSettled(request_id=event.request_id, task_id=event.task_id,
                                          processor=event.processor, ok=event.ok, reason=event.reason)
    raise TypeError(f"no payload for {type(event).__name__}")


def task_notice(task: Task, r: Request) -> tasks_pb2.DsrTask:
    """A task as it travels on its processor's topic: ids and the controller (no person's). Who and
    what (subject, purpose, corrections) the processor learns from ConfirmTasks, so nothing on the
    broker names the person."""
    return tasks_pb2.DsrTask(task_id=task.task_id, request_id=task.request_id, processor=task.processor,
                             task_action=TASK_ACTIONS[task.action], attempt=max(task.attempts, 1),
                             controller_id=r.controller_id)


def task_message(task: Task, r: Request) -> tasks_pb2.DsrTask:
    """A task whole, as ConfirmTasks answers it to its processor."""
    return tasks_pb2.DsrTask(task_id=task.task_id, request_id=task.request_id, processor=task.processor,
                             task_action=TASK_ACTIONS[task.action], subject_id=r.subject_id,
                             purpose_id=r.purpose_id, corrections=r.corrections, attempt=max(task.attempts, 1),
                             result_key=task.result_key or b"", controller_id=r.controller_id)
