"""The consent history (GDPR 7(1)): each grant, renewal, withdrawal, expiry and erasure kept as it
happened, with what the person saw and how they acted, so consent can be proven for any past date."""

from dataclasses import dataclass, replace
from datetime import datetime

from services.consent.domain.events import ConsentGranted
from services.consent.domain.model import Actor, CollectionMethod, Consent, ConsentState

# The history's entry for an erasure, which publishes no consent event of its own.
ERASED = "consent.erased"


@dataclass(frozen=True)
class HistoryEntry:
    event_id: str
    # The type of the event it was published as (ConsentGranted.type, ...), or ERASED.
    event_type: str
    state: ConsentState
    notice_version: int
    notice_language: str
    notice_hash: str
    jurisdiction: str
    # How the person acted; None where it was not stated (a withdrawal may say, and old rows do not).
    collection_method: CollectionMethod | None
    evidence_ref: str
    actor: Actor
    # The validity of the grant in force after the event.
    expires_at: datetime | None
    reason: str
    occurred_at: datetime

    @classmethod
    def of(cls, consent: Consent, event_id: str, event_type: str, reason: str, at: datetime) -> "HistoryEntry":
        """The record as the event leaves it."""
        return cls(event_id, event_type, consent.state, consent.notice_version, consent.notice_language,
                   consent.notice_hash, consent.jurisdiction, consent.collection_method, consent.evidence_ref,
                   consent.actor, consent.expires_at, reason, at)

    def acted(self, actor: Actor, method: CollectionMethod | None, evidence_ref: str) -> "HistoryEntry":
        """The same event done by someone other than the grantor, by their own means (a withdrawal)."""
        return replace(self, actor=actor, collection_method=method, evidence_ref=evidence_ref)


@dataclass(frozen=True)
class ConsentAsOf:
    """The consent as it stood at a moment: its state then, the grant in force and the last event."""

    state: ConsentState | None  # None: nothing had been given by then
    grant: HistoryEntry | None
    last_event: HistoryEntry | None


def as_of(history: list[HistoryEntry], moment: datetime) -> ConsentAsOf:
    """`history` in the order it was written. A grant past its validity had expired at that moment,
    whether or not the sweep had recorded it yet, as the gate would have decided."""
    past = [e for e in history if e.occurred_at <= moment]
    if not past:
        return ConsentAsOf(None, None, None)
    last = past[-1]
    grant = next((e for e in reversed(past) if e.event_type == ConsentGranted.type), None)
    state = last.state
    if state is ConsentState.GIVEN and last.expires_at is not None and last.expires_at <= moment:
        state = ConsentState.EXPIRED
    return ConsentAsOf(state, grant, last)
