"""What the gate last read for each (subject, purpose), so a repeated check needs no query.

An entry remembers the controller the check was asked in, and answers only a check asked in that
one: asked in another controller, the purpose is not its own (unknown purpose) and the subject
another subject (erased there or not), so the answer differs and is read afresh. One entry per pair
is enough: two controllers whose purposes share an id, checked for subjects that share an id, take
turns in it, which costs a read and never a wrong answer (a change of either drops the pair).

Correctness rests on three rules:
- an entry is dropped when its row changes: locally right after our own commit (read-your-writes on
  this replica) and on every replica through the `consent_changed` notification sent at commit;
- a read that overlapped any invalidation is not cached (its result may predate the change);
- without a live notification channel the cache is off, so a missed notification cannot leave a
  stale ALLOW behind.
Expiry needs no invalidation: the snapshot carries its deadlines and `decide` applies them per call.
An entry keeps the answer it last gave, for as long as that answer holds by time alone: an ALLOW
until the moment the consent runs out, any other answer while the entry lasts.
"""

import time
from datetime import datetime

from services.consent.domain.model import CheckResult, ConsentSnapshot, decide

Key = tuple[str, str, str]  # (subject, purpose, the controller the check was asked in)
Pair = tuple[str, str]  # (subject, purpose): what a change invalidates, whichever controller asked
# Sent by the triggers of store migration 0002: "subject<US>purpose", or "*" for everything.
CHANGE_CHANNEL = "consent_changed"


class _Entry:
    __slots__ = ("stored_at", "asked_in", "snapshot", "answer")

    def __init__(self, stored_at: float, asked_in: str, snapshot: ConsentSnapshot) -> None:
        self.stored_at, self.asked_in, self.snapshot = stored_at, asked_in, snapshot
        self.answer: CheckResult | None = None

    def decide(self, now: datetime) -> CheckResult:
        """As `decide(snapshot, now)`, decided again only once an ALLOW's consent has run out by time."""
        answer = self.answer
        if answer is None or (answer.expires_at is not None and now >= answer.expires_at):
            answer = self.answer = decide(self.snapshot, now)
        return answer


class DecisionCache:
    def __init__(self, max_entries: int = 500_000, ttl_s: float = 300.0) -> None:
        self._max = max_entries
        self._ttl = ttl_s
        self._entries: dict[Pair, _Entry] = {}
        self._epoch = 0
        self.enabled = False

    @property
    def epoch(self) -> int:
        """Taken before a read; `store` only keeps results if no invalidation happened since."""
        return self._epoch

    def answer(self, key: Key, now: datetime) -> CheckResult | None:
        """The gate's answer at `now` from what is held for `key`; None if nothing is. The same
        CheckResult object while the answer holds, so what is made of it can be kept by identity."""
        entry = self._entry(key)
        return None if entry is None else entry.decide(now)

    def _entry(self, key: Key) -> _Entry | None:
        if not self.enabled:
            return None
        subject_id, purpose_id, controller_id = key
        entry = self._entries.get((subject_id, purpose_id))
        if entry is None:
            return None
        if time.monotonic() - entry.stored_at > self._ttl:
            del self._entries[(subject_id, purpose_id)]
            return None
        return entry if entry.asked_in == controller_id else None

    def store(self, read_epoch: int, items: list[tuple[Key, ConsentSnapshot]]) -> bool:
        """Keeps what a read found, unless the cache is off or something changed since `read_epoch`;
        True if it kept it."""
        if not self.enabled or read_epoch != self._epoch:
            return False
        if len(self._entries) + len(items) > self._max:
            self._entries.clear()
        now = time.monotonic()
        for (subject_id, purpose_id, controller_id), snapshot in items:
            self._entries[(subject_id, purpose_id)] = _Entry(now, controller_id, snapshot)
        return True

    def invalidate(self, pair: Pair) -> None:
        self._epoch += 1
        self._entries.pop(pair, None)

    def clear(self) -> None:
        self._epoch += 1
        self._entries.clear()

    def apply_notification(self, payload: str) -> None:
        if payload == "*":
            self.clear()
        else:
            subject_id, _, purpose_id = payload.partition("\x1f")
            self.invalidate((subject_id, purpose_id))

    def enable(self) -> None:
        """Called once notifications flow: whatever was cached before cannot be trusted."""
        self.clear()
        self.enabled = True

    def disable(self) -> None:
        self.enabled = False
        self.clear()

    def __len__(self) -> int:
        return len(self._entries)
