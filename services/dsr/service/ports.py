"""What the dsr use cases need from the outside, declared here where they use it. The store's
classes (services/dsr/store/) and the Kafka side (services/dsr/events/) implement these structurally."""

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from services.common.uow import UnitOfWork, UnitsOfWork
from services.dsr.domain.events import Event
from services.dsr.domain.model import Processor, Request, RequestType, Status, Task, TaskOutcome


class DsrStore(Protocol):
    # Requests
    async def add(self, r: Request, earlier: Sequence[tuple[Status, str]] = ()) -> None: ...

    async def save(self, r: Request, note: str = "") -> None: ...

    async def get(self, request_id: str, *, for_update: bool = False) -> Request | None: ...

    async def find(self, *, now: datetime, status: Status | None, overdue_only: bool, due_before: datetime | None,
                   subject_id: str, after: tuple[int, datetime, str] | None, limit: int,
                   subject_names: Sequence[str] = (), controller: str | None = None,
                   request_type: RequestType | None = None, jurisdiction: str = "", processor: str = "",
                   verified_only: bool = False) -> list[Request]:
        """`controller`: one controller's requests only (None: every controller's)."""

    async def lock_requests(self, request_ids: list[str]) -> dict[str, Request]: ...

    async def verified(self, now: datetime, limit: int) -> list[str]: ...

    async def claim_start(self, request_id: str, now: datetime, until: datetime,
                          holder: str = "") -> Request | None: ...

    async def renew_claims(self, holder: str, until: datetime) -> int: ...

    async def end_claim(self, request_id: str, at: datetime) -> None: ...

    async def set_export(self, request_id: str, export: bytes) -> None: ...

    async def export(self, request_id: str) -> bytes | None: ...

    # Processors
    async def register(self, p: Processor) -> Processor: ...

    async def processors(self, after: str = "", limit: int | None = None,
                         controller: str | None = None) -> list[Processor]:
        """By name: those after `after`, at most `limit` of them (None: all), of `controller` (None: of
        every controller)."""

    async def deregister(self, name: str) -> Processor | None: ...

    async def open_tasks(self, processor: str, task_ids: list[str] | None = None) -> list[tuple[Task, Request]]: ...

    # Tasks
    async def add_tasks(self, tasks: list[Task]) -> None: ...

    async def result_keys(self, task_ids: list[str]) -> dict[str, bytes]: ...

    async def tasks_of(self, request_ids: list[str]) -> dict[str, list[Task]]: ...

    async def settle(self, outcomes: Sequence[TaskOutcome]) -> list[Task]: ...

    async def due_tasks(self, now: datetime, window: int, limit: int) -> list[tuple[Task, Request]]: ...

    async def mark_sent(self, tasks: list[Task]) -> None: ...

    # Forgetting
    async def forget_people(self, tags: dict[tuple[str, str], str]) -> int:
        """(controller, subject id): the subject's keyed tag."""

    async def forget_settled(self, before: datetime, limit: int) -> int: ...


class Upstream(Protocol):
    """The other services, for Consentry's own part of a request (store/upstream.py)."""

    async def erase_consents(self, controller_id: str, subject_id: str, request_id: str) -> int: ...

    async def forget_in_portal(self, controller_id: str, subject_id: str) -> None: ...

    async def shred_key(self, controller_id: str, subject_id: str, request_id: str) -> tuple[bytes, bytes]: ...

    async def retire_purpose_keys(self, controller_id: str, subject_id: str, purpose_id: str,
                                  request_id: str) -> int: ...

    async def subject_record(self, controller_id: str, subject_id: str) -> dict: ...


class TaskSender(Protocol):
    """Tasks to their processors (events/task_sender.py)."""

    async def send(self, tasks: list[tuple[Task, Request]]) -> None:
        """Returns once every one was acknowledged."""


class ProcessorTopics(Protocol):
    async def provide(self, *processors: str) -> None:
        """The processors' task and result topics exist once this returns."""


DsrWork = UnitOfWork[DsrStore, Event]
DsrUnits = UnitsOfWork[DsrStore, Event]
