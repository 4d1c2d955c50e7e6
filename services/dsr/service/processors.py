"""The processor registry: the face systems that hold data a request may concern. A processor is
its authenticated identity: it registers and changes only itself, reads only its own topic, and acts
on a task only once it has confirmed it here. It serves one controller, its own client's: it is sent
and confirms only tasks of that controller's requests, and a controller's client lists only that
controller's processors. An operator may deregister one; its open tasks then fail with the reason, so
no request waits for an answer that will never come. What processors report back settles their tasks."""

import asyncio

from services.common.idempotency import Idempotent, Replayed
from services.common.page_tokens import PageTokens
from services.common.uow import DEADLOCK
from services.common.validation import FieldViolation, InvalidArgument
from services.dsr.domain import errors
from services.dsr.domain.model import Processor, Request, Task, TaskOutcome
from services.dsr.service.ports import DsrUnits, ProcessorTopics
from services.dsr.service.settlement import Settlement


# What a page token of the listing is bound to, with the controller listed: the token must not
# continue any other query signed with the same key (ListRequests'), nor another controller's listing.
LISTING = b"processors by name"


def _listing(controller: str | None) -> bytes:
    # Before controllers a token was bound to LISTING alone: such a token continues the whole listing.
    return LISTING if controller is None else LISTING + b"\x1f" + controller.encode()


class Processors:
    def __init__(self, uow: DsrUnits, topics: ProcessorTopics, settlement: Settlement, tokens: PageTokens) -> None:
        self._uow, self._topics, self._settlement, self._tokens = uow, topics, settlement, tokens

    async def register(self, p: Processor) -> Processor:
        # Topics first: a registered processor's tasks never go to a topic that is not there.
        await self._topics.provide(p.name)
        async with self._uow.autocommit() as store:
            return await store.register(p)

    async def provide_topics(self) -> None:
        """Every registered processor's topics exist once this returns (a broker may have lost them)."""
        async with self._uow.autocommit() as store:
            names = [p.name for p in await store.processors()]
        await self._topics.provide(*names)

    async def listed(self, limit: int, token: str, scope: str | None) -> tuple[list[Processor], str]:
        """A page of the registry by name, and the token of the next page ("" after the last); `scope`:
        one controller's processors (None: every controller's)."""
        after = self._position(token, scope) if token else ""
        async with self._uow.autocommit() as store:
            found = await store.processors(after, limit + 1, scope)  # one more tells whether another page follows
        if len(found) <= limit:
            return found, ""
        return found[:limit], self._tokens.issue(_listing(scope), [found[limit - 1].name])

    def _position(self, token: str, scope: str | None) -> str:
        try:
            (after,) = self._tokens.read(token, _listing(scope))
        except ValueError:  # made by hand, altered, another query's, or not one name
            after = None
        if not isinstance(after, str):
            raise InvalidArgument([FieldViolation("page_token", "page_token.valid",
                                                  "not a token from an earlier page of this query")])
        return after

    async def deregister(self, name: str, reason: str,
                         idem: Idempotent[tuple[Processor, int]]) -> tuple[Processor, int] | Replayed:
        """The processor and how many open tasks failed; a retry gets the first answer."""
        async with self._uow() as uow:
            async def work() -> tuple[Processor, int]:
                processor = await uow.store.deregister(name)
                if processor is None:
                    raise errors.ProcessorNotFound(name)
                failing = [TaskOutcome(task.task_id, name, False, f"processor {name} deregistered: {reason}")
                           for task, _ in await uow.store.open_tasks(name)]
                return processor, await self._settlement.settle_tasks(uow, failing)
            answer = await uow.once(idem, work)
            await uow.commit()
        return answer

    async def confirm(self, processor: str, controller: str, task_ids: list[str]) -> list[tuple[Task, Request]]:
        """Of these ids, the open tasks that are the processor's own, of its controller's requests (a
        processor whose client moved to another controller confirms none of its old controller's)."""
        async with self._uow.autocommit() as store:
            return [(t, r) for t, r in await store.open_tasks(processor, task_ids) if r.controller_id == controller]

    async def settle_results(self, outcomes: list[TaskOutcome]) -> int:
        """A batch of results in one unit of work (one commit, not one per result); how many settled now."""
        for attempt in (1, 2):
            try:
                return await self._settle(outcomes)
            except DEADLOCK:
                # Another replica settling an overlapping batch (handed over by a rebalance) locked
                # the same tasks in another order: one of the two tries again.
                await asyncio.sleep(0.05 * attempt)
        return await self._settle(outcomes)

    async def _settle(self, outcomes: list[TaskOutcome]) -> int:
        async with self._uow() as uow:
            settled = await self._settlement.settle_tasks(uow, outcomes)
            await uow.commit()
        return settled
