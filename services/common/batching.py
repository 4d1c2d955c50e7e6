"""Micro-batching: calls that arrive while a batch is in flight wait for the next one, so a round
trip (a query, a commit, a Vault request, an RPC) is shared by every call in flight without adding
a timer's delay to a lone call.

Calls may name keys (`keys`): two calls sharing one never go in one batch, the later waits for the
next (one statement cannot write one row twice; a retry must wait for its first call's answer, not be
taken as that call). Calls may fall in groups (`group`): each group has batches of its own, one at a
time, so a batch that waits (on a lock its group's calls need) holds up only its group."""

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from typing import Generic, TypeAlias, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")
# A queued call: the item, its keys, its caller's answer.
_Waiting: TypeAlias = tuple[Item, frozenset[Hashable], asyncio.Future[Result]]


class MicroBatcher(Generic[Item, Result]):
    """`run` answers one batch in order; it may return an exception in place of one item's result,
    and an exception it raises is the answer for every item of that batch."""

    def __init__(self, run: Callable[[list[Item]], Awaitable[Sequence[Result | BaseException]]],
                 max_batch: int = 1000, keys: Callable[[Item], Iterable[Hashable]] | None = None,
                 group: Callable[[Item], Hashable] | None = None) -> None:
        self._run = run
        self._max_batch = max_batch
        self._keys, self._group = keys, group
        self._pending: dict[Hashable, list[_Waiting[Item, Result]]] = {}  # by group, while it flushes
        self._flushes: set[asyncio.Task[None]] = set()

    async def submit(self, item: Item) -> Result:
        return await self.enqueue(item)

    def enqueue(self, item: Item) -> asyncio.Future[Result]:
        """Queues without waiting, for callers that submit many items and gather the futures."""
        keys = frozenset(self._keys(item)) if self._keys else frozenset()  # a failure here is the caller's
        group = self._group(item) if self._group else None
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Result] = loop.create_future()
        pending = self._pending.get(group)
        if pending is None:
            pending = self._pending[group] = []
            # In a context of its own: the batches that follow answer other callers than this one.
            self._flushes.add(task := loop.create_task(self._flush(group), context=contextvars.Context()))
            task.add_done_callback(self._flushes.discard)
        pending.append((item, keys, future))
        return future

    async def _flush(self, group: Hashable) -> None:
        batch: list[_Waiting[Item, Result]] = []
        try:
            while pending := self._pending[group]:
                batch, self._pending[group] = self._take(pending)
                if not batch:  # every caller left
                    continue
                try:
                    results = await self._run([item for item, _, _ in batch])
                    if len(results) != len(batch):
                        raise RuntimeError(f"batch of {len(batch)} answered with {len(results)} results")
                except Exception as exc:  # noqa: BLE001 - every waiting caller learns it failed
                    results = [exc] * len(batch)
                for (_, _, future), result in zip(batch, results, strict=True):
                    if future.done():
                        continue
                    if isinstance(result, BaseException):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:  # normally nothing is left; if this task is cancelled (at shutdown), no caller waits for ever
            for _, _, future in batch + self._pending.pop(group):
                future.cancel()

    def _take(self, pending: list[_Waiting[Item, Result]]
              ) -> tuple[list[_Waiting[Item, Result]], list[_Waiting[Item, Result]]]:
        """The next batch, and what stays pending (in the order it came). A call whose caller stopped
        waiting before its batch began is dropped: nothing is done for it."""
        batch: list[_Waiting[Item, Result]] = []
        later: list[_Waiting[Item, Result]] = []
        taken: set[Hashable] = set()
        for waiting in pending:
            _, keys, future = waiting
            if future.done():
                continue
            if len(batch) == self._max_batch or not taken.isdisjoint(keys):
                later.append(waiting)
            else:
                taken |= keys
                batch.append(waiting)
        return batch, later
