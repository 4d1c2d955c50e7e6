"""The enrolment gate on the hot path. Concurrent CheckConsent calls are coalesced into one query
per round trip, so the database cost is shared by every call in flight and each answer still
reflects committed state (no cache that could ALLOW after a withdrawal).

Batches run one at a time (services.common.batching) through the store's snapshot reader, which
keeps a connection of its own. What a batch read may be answered from the decision cache next time
(see decision_cache for why that is safe)."""

import asyncio
from collections.abc import Callable
from datetime import datetime

from services.common.batching import MicroBatcher
from services.common.logging import get_logger
from services.consent.domain.events import Event, FilingThresholdCrossed
from services.consent.domain.model import CheckResult, DenyReason, decide
from services.common.erasure import SubjectTagger
from services.consent.service.consents import utcnow
from services.consent.service.decision_cache import DecisionCache
from services.consent.service.ports import Snapshots

log = get_logger(__name__)
UNAVAILABLE = CheckResult(False, DenyReason.UNAVAILABLE)


class ConsentGate:
    def __init__(self, reader: Snapshots, cache: DecisionCache, tagger: SubjectTagger, *, max_batch: int = 512,
                 timeout_s: float = 2.0, clock: Callable[[], datetime] = utcnow) -> None:
        self._reader, self._tagger = reader, tagger
        self.cache = cache
        self._timeout = timeout_s
        self._now = clock
        self._queries = MicroBatcher(self._query, max_batch)

    async def check(self, subject_id: str, purpose_id: str, controller_id: str) -> CheckResult:
        """Asked in `controller_id`: a purpose of another controller is answered as an unknown one, and
        the subject is that controller's (erased there or not)."""
        key = (subject_id, purpose_id, controller_id)
        cached = self.cache.answer(key, self._now())
        if cached is not None:
            return cached
        return await self._queries.submit(key)

    async def check_many(self, checks: list[tuple[str, str, str]]) -> list[CheckResult]:
        """(subject, purpose, controller) each, as `check`. Answers from the cache where it can; the rest
        joins the queue like any other call."""
        now = self._now()
        answers = [self.cache.answer(key, now) for key in checks]
        unanswered = [i for i, answer in enumerate(answers) if answer is None]
        if unanswered:
            read = await asyncio.gather(*(self._queries.enqueue(checks[i]) for i in unanswered))
            for i, answer in zip(unanswered, read, strict=True):
                answers[i] = answer
        return answers

    async def close(self) -> None:
        await self._reader.close()

    def forget(self, events: list[Event]) -> None:
        """Right after our own commit, before the caller hears back: this replica reads its writes."""
        for event in events:
            consent = getattr(event, "consent", None)
            if consent is not None:
                self.cache.invalidate((consent.subject_id, consent.purpose_id))
            elif isinstance(event, FilingThresholdCrossed):  # a count, no answer changes
                continue
            else:  # purpose, notice and erasure events change many answers at once
                self.cache.clear()

    async def _query(self, checks: list[tuple[str, str, str]]) -> list[CheckResult]:
        epoch = self.cache.epoch
        try:
            async with asyncio.timeout(self._timeout):
                snapshots = await self._reader.snapshots(checks, [self._tagger.tag(s, c) for s, _, c in checks])
        except Exception as exc:  # noqa: BLE001 - any failure to read is answered the same way
            # Fail closed: an unanswerable check is a DENY, never an ALLOW.
            self._reader.discard()
            log.warning("consent check unavailable", error=str(exc) or type(exc).__name__, checks=len(checks))
            return [UNAVAILABLE] * len(checks)
        kept = self.cache.store(epoch, list(zip(checks, snapshots, strict=True)))
        now = self._now()
        if not kept:
            return [decide(s, now) for s in snapshots]
        # The kept entries' own answers: the ones later checks get, whose responses are made once.
        return [self.cache.answer(key, now) or decide(s, now) for key, s in zip(checks, snapshots, strict=True)]
