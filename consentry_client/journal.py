"""Where a processor remembers the result of each task, so a re-sent task is answered, not redone.

A result is needed only until dsr settled the task: after that dsr sends it no more, and ConfirmTasks
no longer confirms a copy that still comes. The processor then forgets it (it may hold an access
export), asking dsr about what its journal holds every `settled_check_s`."""

from typing import Protocol

from consentry.dsr.v1.tasks_pb2 import DsrTaskResult


class TaskJournal(Protocol):
    async def get(self, task_id: str) -> DsrTaskResult | None: ...

    async def put(self, result: DsrTaskResult) -> None: ...

    async def task_ids(self, limit: int) -> list[str]:
        """Some of the tasks remembered, those remembered longest first."""

    async def forget(self, task_ids: list[str]) -> None: ...


class InMemoryTaskJournal:
    """Forgets everything on restart; production keeps the journal beside the face data it describes,
    ideally in the same transaction as the deletion or correction."""

    def __init__(self) -> None:
        self._results: dict[str, bytes] = {}

    async def get(self, task_id: str) -> DsrTaskResult | None:
        stored = self._results.get(task_id)
        return None if stored is None else DsrTaskResult.FromString(stored)

    async def put(self, result: DsrTaskResult) -> None:
        # Serialized, so a caller mutating its message cannot change what was recorded.
        self._results.setdefault(result.task_id, result.SerializeToString())

    async def task_ids(self, limit: int) -> list[str]:
        return list(self._results)[:limit]  # insertion order: the oldest first

    async def forget(self, task_ids: list[str]) -> None:
        for task_id in task_ids:
            self._results.pop(task_id, None)
