"""An audit entry: what is kept of an event, in the canonical JSON that is hashed into its leaf.

Entries never hold the raw subject id: the subject appears as the SubjectRef from keyvault, and
payload fields that identify a person (or could be hashed back to one) are left out."""

import json
from dataclasses import dataclass
from datetime import datetime

ENTRY_VERSION = 1

# Payload fields never kept, at any depth: identifiers of people, evidence, certificates (which
# carry a hash of the subject id), free text a person wrote (a withdrawal's reason), and anything
# that could be key material.
LEFT_OUT_FIELDS = frozenset({
    "subjectId", "subjectIdSha256", "subjectAge", "guardianId", "guardianVerificationRef", "evidenceRef",
    "certificate", "reason", "plaintextKey", "wrappedKey", "key", "template", "image",
})


def minimised(payload: object) -> object:
    if isinstance(payload, dict):
        return {k: minimised(v) for k, v in payload.items() if k not in LEFT_OUT_FIELDS}
    if isinstance(payload, list):
        return [minimised(v) for v in payload]
    return payload


def timestamp(at: datetime) -> str:
    return at.isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Event:
    """An event on its way into the log, still naming its subject by id."""
    event_id: str
    producer: str
    sequence: int | None  # None for producers that do not number their events
    event_type: str
    subject_id: str
    occurred_at: datetime
    payload: dict


@dataclass(frozen=True)
class Entry:
    event_id: str
    producer: str
    sequence: int | None
    event_type: str
    subject_ref: str  # "" when the event concerns no subject, or the subject was already shredded
    occurred_at: datetime
    body: bytes

    @classmethod
    def of(cls, event: Event, subject_ref: str) -> "Entry":
        document = {
            "v": ENTRY_VERSION, "eventId": event.event_id, "producer": event.producer, "sequence": event.sequence,
            "type": event.event_type, "subjectRef": subject_ref, "occurredAt": timestamp(event.occurred_at),
            "payload": minimised(event.payload),
        }
        body = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        return cls(event.event_id, event.producer, event.sequence, event.event_type, subject_ref,
                   event.occurred_at, body)


def indexed_fields(body: bytes) -> dict:
    """The fields the store indexes, as the hashed body states them (VerifyLog compares the two)."""
    document = json.loads(body)
    return {k: document[k] for k in ("eventId", "producer", "sequence", "type", "subjectRef", "occurredAt")}
