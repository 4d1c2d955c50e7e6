"""Micro-batching: calls that arrive while a batch is in flight wait for the next one, so a round
trip (a query, a commit, a Vault request, an RPC) is shared by every call in flight without adding
a timer's delay to a lone call."""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class MicroBatcher(Generic[Item, Result]):
    """`run` answers one batch in order; it may return an exception in place of one item's result,
    and an exception it raises is the answer for every item of that batch."""

    def __init__(self, run: Callable[[list[Item]], Awaitable[Sequence[Result | BaseException]]],
                 max_batch: int = 1000) -> None:
        self._run = run
        self._max_batch = max_batch
        self._pending: list[tuple[Item, asyncio.Future[Result]]] = []
        self._flushing = False

    async def submit(self, item: Item) -> Result:
        return await self.enqueue(item)

    def enqueue(self, item: Item) -> asyncio.Future[Result]:
        """Queues without waiting, for callers that submit many items and gather the futures."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().create_task(self._flush())
        return future

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch:]
                try:
                    results = await self._run([item for item, _ in batch])
                    if len(results) != len(batch):
                        raise RuntimeError(f"batch of {len(batch)} answered with {len(results)} results")
                except Exception as exc:  # noqa: BLE001 - every waiting caller learns it failed
                    results = [exc] * len(batch)
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():
                        continue
                    if isinstance(result, BaseException):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            self._flushing = False
