"""Completeness per producer: every event carries a gap-free sequence, so the log can say "complete
up to N" and name what is missing, which the producer is then asked to publish again."""

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Watermark:
    """A producer's word on the highest sequence it published (events lost at the tail show as a gap)."""
    producer: str
    last_sequence: int


@dataclass
class ProducerProgress:
    producer: str
    complete_up_to: int = 0
    highest_seen: int = 0
    # Sequences above complete_up_to already in the log, waiting for the gap below them to fill.
    ahead: set[int] = field(default_factory=set)
    replay_requested_at: datetime | None = None

    def __post_init__(self) -> None:
        # Loaded from the log, `ahead` may hold sequences the stored progress had not counted yet
        # (entries committed before their progress row): what is in the log was seen.
        self.highest_seen = max(self.highest_seen, max(self.ahead, default=0))

    def saw(self, sequence: int) -> None:
        self.highest_seen = max(self.highest_seen, sequence)
        if sequence > self.complete_up_to:
            self.ahead.add(sequence)
        while self.complete_up_to + 1 in self.ahead:
            self.complete_up_to += 1
            self.ahead.discard(self.complete_up_to)

    def announced(self, last_sequence: int) -> None:
        """The producer says it published up to here (events lost at the tail show up as a gap)."""
        self.highest_seen = max(self.highest_seen, last_sequence)

    @property
    def missing(self) -> int:
        return self.highest_seen - self.complete_up_to - len(self.ahead)

    @property
    def has_gap(self) -> bool:
        return self.highest_seen > self.complete_up_to
