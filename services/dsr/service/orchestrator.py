"""Carrying out verified requests. Consentry's own part comes first (consents erased, the key
shredded and the portal's sign-in records forgotten for a deletion; the purpose's data keys retired for a withdrawal; the subject's record
gathered for an access), then one task per processor
that holds data the request concerns, among the processors of the request's controller only. Every
call to another service names that controller: the same person at another controller is another
subject, whose consents, keys and processors the request never reaches. A step another service
cannot do yet is tried again later, and the request shows why it waits."""

import asyncio
import json
import os
import uuid
from datetime import UTC, datetime, timedelta

from services.common.ids import new_id
from services.common.logging import get_logger
from services.common.uow import STORE_FAILURES
from services.dsr.domain import errors
from services.dsr.domain.events import RequestStatusChanged
from services.dsr.domain.model import ACTIONS, Request, RequestType, Status, Task
from services.dsr.service.ports import DsrUnits, Upstream
from services.dsr.service.settlement import Settlement

log = get_logger(__name__)
# A start claim lasts this long unless its holder renews it, which a live holder does every third of
# it for as long as it works: a crashed starter's requests are taken up by another within seconds.
START_CLAIM = timedelta(seconds=15)


class Orchestrator:
    def __init__(self, uow: DsrUnits, upstream: Upstream, settlement: Settlement, retry_s: float = 5.0,
                 concurrency: int = 64, claim: timedelta = START_CLAIM) -> None:
        self._uow, self._upstream, self._retry = uow, upstream, retry_s
        self._settlement = settlement
        # Starting a request is mostly waiting for consent and keyvault: many go side by side.
        self._concurrency = concurrency
        self._claim = claim
        self._holder = uuid.uuid4().hex  # whose claims these are: this process's
        self._starting = 0
        self._wakeup = asyncio.Event()
        self._not_before: dict[str, float] = {}

    def verified(self) -> None:
        """A request was just verified: start it now rather than at the next poll."""
        self._wakeup.set()

    async def run(self, idle_s: float = 1.0) -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(self._start_verified(idle_s))
            group.create_task(self._renew_claims())

    async def _renew_claims(self) -> None:
        """While this process is starting requests, their claims move on; a renewal that fails is
        tried again at the next beat (the claim still has two thirds of its time)."""
        while True:
            await asyncio.sleep(self._claim.total_seconds() / 3)
            if not self._starting:
                continue
            try:
                async with self._uow.autocommit() as store:
                    await store.renew_claims(self._holder, datetime.now(UTC) + self._claim)
            except Exception as exc:  # noqa: BLE001 - the database away: the next beat tries again
                log.warning("start claims not renewed", error=str(exc))

    async def _start_verified(self, idle_s: float) -> None:
        """Verified requests are started side by side; the loop only sleeps once nothing is left."""
        lanes = asyncio.Semaphore(self._concurrency)

        async def start(request_id: str) -> None:
            async with lanes:
                await self.start(request_id)
        while True:
            self._wakeup.clear()  # before reading: a verification arriving meanwhile wakes the next round
            started = 0
            try:
                async with self._uow.autocommit() as store:
                    waiting = await store.verified(datetime.now(UTC), 500)
                now = asyncio.get_running_loop().time()
                due = [r for r in waiting if self._not_before.get(r, 0) <= now]
                outcomes = await asyncio.gather(*(start(r) for r in due), return_exceptions=True)
                for request_id, outcome in zip(due, outcomes, strict=True):
                    if isinstance(outcome, Exception):  # one request's failure never stops the others
                        self._not_before[request_id] = now + self._retry
                        log.warning("request start failed", request_id=request_id, error=str(outcome))
                started = sum(not isinstance(o, Exception) for o in outcomes)
            except STORE_FAILURES as exc:
                log.warning("orchestrator retrying", error=str(exc))
            if started:
                continue
            try:
                await asyncio.wait_for(self._wakeup.wait(), idle_s)
            except TimeoutError:
                pass

    async def start(self, request_id: str) -> None:
        """Starts a request read as VERIFIED, if it still is once claimed: while it waited for a lane it
        may have been rejected or started by another replica, and the own part cannot be undone."""
        now = datetime.now(UTC)
        async with self._uow.autocommit() as store:
            r = await store.claim_start(request_id, now, now + self._claim, self._holder)
        if r is None:
            return
        self._starting += 1
        try:
            try:
                record = await self._own_part(r)
            except (errors.UpstreamUnavailable, errors.UpstreamRefused) as exc:
                self._not_before[r.request_id] = asyncio.get_running_loop().time() + self._retry
                await self._waiting(r, f"waiting: {exc}")
                return
            self._not_before.pop(r.request_id, None)
            await self._fan_out(r, record)
        finally:
            self._starting -= 1

    async def _own_part(self, r: Request) -> dict | None:
        if r.type in (RequestType.ACCESS, RequestType.PORTABILITY):
            return await self._upstream.subject_record(r.controller_id, r.subject_id)
        if r.type is RequestType.DELETION:
            await self._upstream.erase_consents(r.controller_id, r.subject_id, r.request_id)
            r.certificate, r.certificate_signature = await self._upstream.shred_key(
                r.controller_id, r.subject_id, r.request_id)
            await self._upstream.forget_in_portal(r.controller_id, r.subject_id)
        if r.type is RequestType.WITHDRAWAL and r.purpose_id:
            await self._upstream.retire_purpose_keys(r.controller_id, r.subject_id, r.purpose_id, r.request_id)
        return None

    async def _waiting(self, r: Request, reason: str) -> None:
        """Lets the claim run out now, for the retry to take again, and shows why the request waits. It
        stays begun: part of the erasure may be done."""
        now = datetime.now(UTC)
        async with self._uow() as uow:
            current = await uow.store.get(r.request_id, for_update=True)
            if current is None or current.status is not Status.VERIFIED:
                return
            current.starting_until = now
            if current.status_reason == reason:
                await uow.store.end_claim(current.request_id, now)
            else:
                current.status_reason = reason
                await uow.store.save(current, reason)
            await uow.commit()

    async def _fan_out(self, r: Request, record: dict | None) -> None:
        action = ACTIONS[r.type]
        now = datetime.now(UTC)
        async with self._uow() as uow:
            store = uow.store
            current = await store.get(r.request_id, for_update=True)
            if current is None or current.status is not Status.VERIFIED:
                return  # another replica started it
            current.certificate, current.certificate_signature = r.certificate, r.certificate_signature
            r = current
            processors = [p for p in await store.processors(controller=r.controller_id) if p.takes(action, r.purpose_id)]
            tasks = [Task(str(new_id()), r.request_id, p.name, action, next_attempt_at=now,
                          result_key=os.urandom(32) if action == "access" else None) for p in processors]
            await store.add_tasks(tasks)
            if record is not None:
                await store.set_export(r.request_id, json.dumps(record).encode())
            r.move_to(Status.IN_PROGRESS, f"{len(tasks)} processor(s) asked: "
                                          + (", ".join(p.name for p in processors) or "none hold such data"))
            await store.save(r)
            uow.emit(RequestStatusChanged.of(r))
            if not tasks:
                await self._settlement.complete_if_settled(uow, r)
            await uow.commit()
