"""The audit log as the console reads it: a search, one entry with what proves it is in the log, and how
complete the log is per producer; and a controller's standing against the filing threshold."""

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class EntryQuery:
    event_type: str = ""
    producer: str = ""
    subject_id: str = ""  # a person by their id (the log turns it into their reference in the controller)
    subject_ref: str = ""  # or by the reference itself
    occurred_from: datetime | None = None
    occurred_until: datetime | None = None
    controller_id: str = ""  # "" every controller's (the platform's staff only)


@dataclass(frozen=True)
class ProvenEntry:
    """One audit entry with its inclusion proof up to a signed checkpoint, and the key that signed it."""
    leaf_index: int
    entry_json: bytes
    tree_size: int
    proof: tuple[bytes, ...]
    checkpoint_note: bytes
    checkpoint_signature: bytes
    key_id: str
    public_key_pem: str


@dataclass(frozen=True)
class Completeness:
    producer: str
    complete_up_to: int
    highest_seen: int
    missing: int


@dataclass(frozen=True)
class Filing:
    """People with stored face data against the threshold that makes filing with the CAC due."""
    subjects: int
    threshold: int
    state: str  # below_threshold, approaching, filing_required

    @property
    def percent(self) -> int:
        return min(100, round(100 * self.subjects / self.threshold)) if self.threshold else 0
