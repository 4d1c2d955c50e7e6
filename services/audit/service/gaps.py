"""Healing gaps: a producer whose sequence has had a hole for longer than the grace period (the
broker lost events, or they were never delivered) is asked to publish again from the first
missing sequence, and asked again every grace period until the hole is filled. And the other way
round: each producer is told now and then up to where its events are all in the log, so it may
prune its outbox up to there (services/common/outbox_retention.py)."""

import time
from collections.abc import Awaitable, Callable

from services.audit.domain.completeness import ProducerProgress
from services.audit.service.ports import LogStore
from services.common.logging import get_logger

log = get_logger(__name__)


class GapWatch:
    def __init__(self, ask_replay: Callable[[str, int], Awaitable[None]], grace_s: float = 10.0,
                 acknowledge: Callable[[str, int], Awaitable[None]] | None = None,
                 acknowledge_every_s: float = 30.0) -> None:
        self._ask_replay, self._acknowledge = ask_replay, acknowledge
        self._grace, self._acknowledge_every = grace_s, acknowledge_every_s
        self._acknowledged: dict[str, tuple[int, float]] = {}  # producer: (complete_up_to, when sent)
        self._gap_seen: dict[str, tuple[int, float]] = {}  # producer: (complete_up_to, since)
        self._asked: dict[str, float] = {}

    async def check(self, store: LogStore, progress: dict[str, ProducerProgress]) -> None:
        now = time.monotonic()
        await self._acknowledge_complete(progress, now)
        for state in progress.values():
            if not state.has_gap:
                self._gap_seen.pop(state.producer, None)
                continue
            stuck_at, since = self._gap_seen.get(state.producer, (None, now))
            if stuck_at != state.complete_up_to:  # a new hole, or the old one partly filled: wait again
                self._gap_seen[state.producer] = (state.complete_up_to, now)
                continue
            if now - since < self._grace or now - self._asked.get(state.producer, -self._grace) < self._grace:
                continue
            self._asked[state.producer] = now
            try:
                await self._ask_replay(state.producer, state.complete_up_to + 1)
            except Exception as exc:  # noqa: BLE001 - the broker is away: ask again next grace period
                log.warning("could not ask for a replay", producer=state.producer, error=str(exc))
                continue
            await store.replay_requested(state.producer)
            log.info("asked producer to publish again", producer=state.producer,
                     from_sequence=state.complete_up_to + 1, missing=state.missing)

    async def _acknowledge_complete(self, progress: dict[str, ProducerProgress], now: float) -> None:
        """Once per interval per producer, repeated even when unchanged (the broker may lose one)."""
        if self._acknowledge is None:
            return
        for state in progress.values():
            _, when = self._acknowledged.get(state.producer, (0, -self._acknowledge_every))
            if not state.complete_up_to or now - when < self._acknowledge_every:
                continue
            try:
                await self._acknowledge(state.producer, state.complete_up_to)
            except Exception as exc:  # noqa: BLE001 - the broker is away: the next check sends it
                log.warning("could not acknowledge", producer=state.producer, error=str(exc))
                continue
            self._acknowledged[state.producer] = (state.complete_up_to, now)
