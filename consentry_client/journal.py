"""Where a processor remembers the result of each task, so a re-sent task is answered, not redone."""

from typing import Protocol

from consentry.dsr.v1.tasks_pb2 import DsrTaskResult


class TaskJournal(Protocol):
    async def get(self, task_id: str) -> DsrTaskResult | None: ...

    async def put(self, result: DsrTaskResult) -> None: ...


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
        self._results[result.task_id] = result.SerializeToString()
