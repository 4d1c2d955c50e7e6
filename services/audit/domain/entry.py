"""An audit entry: what is kept of an event, in the canonical JSON that is hashed into its leaf.

Entries never hold the raw subject id: the subject appears as the SubjectRef from keyvault. Every
entry names its controller ("controllerId", version 2 on): the one the subject is a subject of, or
whose thing the event is about; "" for an event of the platform's own that concerns no controller.
Entries from before controllers (version 1) name none and are the default controller's; their leaves
cannot change, so that is where the log reads them (EntryFilter.legacy). The payload is already minimal when the event is made: a producer's event keeps only the fields listed
for its type (events/kept_fields.py), a face system's the fields Append takes (api/validation.py)."""

import json
from dataclasses import dataclass, replace
from datetime import datetime
from operator import itemgetter

import orjson

ENTRY_VERSION = 2  # 1: before controllers (no controllerId)


def canonical(document: dict) -> bytes:
    """Keys sorted, no spaces, text as UTF-8: json.dumps(sort_keys=True, separators=(",", ":"),
    ensure_ascii=False) is the definition. orjson writes the same bytes for what an entry holds (text,
    integers, booleans, null; tests/audit/test_entry_json.py) in a fraction of the time, and refuses an
    integer past 64 bits, which the definition then writes."""
    try:
        return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def timestamp(at: datetime) -> str:
    return at.isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Event:
    """An event on its way into the log, still naming its subject by id; its payload is what the log
    keeps."""
    event_id: str
    producer: str
    sequence: int | None  # None for producers that do not number their events
    event_type: str
    subject_id: str
    occurred_at: datetime
    payload: dict
    # The controller it belongs to ("" when its producer named none: the sequencer then decides,
    # see Sequencer._controller).
    controller_id: str = ""


@dataclass(frozen=True)
class Entry:
    event_id: str
    producer: str
    sequence: int | None
    event_type: str
    subject_ref: str  # "" when the event concerns no subject, or the subject was already shredded
    occurred_at: datetime
    body: bytes
    controller_id: str = ""

    @classmethod
    def of(cls, event: Event, subject_ref: str) -> "Entry":
        document = {
            "v": ENTRY_VERSION, "eventId": event.event_id, "producer": event.producer, "sequence": event.sequence,
            "type": event.event_type, "subjectRef": subject_ref, "occurredAt": timestamp(event.occurred_at),
            "controllerId": event.controller_id, "payload": event.payload,
        }
        body = canonical(document)
        return cls(event.event_id, event.producer, event.sequence, event.event_type, subject_ref,
                   event.occurred_at, body, event.controller_id)


# The fields the store indexes, in the order of its columns; an entry from before controllers names
# no controller (its column is NULL).
INDEXED = ("eventId", "producer", "sequence", "type", "subjectRef", "occurredAt", "controllerId")


_NAMED = itemgetter(*INDEXED[:-1])  # what every body names (controllerId: from version 2 on)


def indexed_values(document: dict) -> tuple:
    """The indexed fields as a body states them, in INDEXED's order (KeyError if one it must name is missing)."""
    return (*_NAMED(document), document.get("controllerId"))


def indexed_fields(body: bytes) -> dict:
    return dict(zip(INDEXED, indexed_values(json.loads(body)), strict=True))


def columns_match(body: bytes, columns: tuple) -> bool:
    """Whether the indexed columns, written as the body writes them (`timestamp` for the time),
    say what the hashed body says; a body that is no JSON object does not. VerifyLog's check."""
    try:
        return indexed_values(_parsed(body)) == columns
    except (ValueError, KeyError, TypeError, RecursionError):
        return False


def _parsed(body: bytes):
    """As json reads it (the definition), by orjson where the two agree."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:  # what orjson refuses and json may read (NaN, lone surrogates)
        return json.loads(body)
    if isinstance(document, dict) and isinstance(document.get("sequence"), float):
        return json.loads(body)  # orjson turns an integer past 64 bits into a float, json keeps it whole
    return document


@dataclass(frozen=True)
class EntryFilter:
    subject_ref: str = ""
    event_type: str = ""
    producer: str = ""
    occurred_from: datetime | None = None
    occurred_until: datetime | None = None
    # The controller whose entries only are read; None: every entry (an operator naming none).
    controller_id: str | None = None
    # Whether entries from before controllers count as controller_id's (it is the default controller).
    legacy: bool = False

    def with_subject_ref(self, subject_ref: str) -> "EntryFilter":
        return replace(self, subject_ref=subject_ref)

    def in_controller(self, default_controller: str) -> "EntryFilter":
        """Read in self.controller_id, with the entries from before controllers if it is the default one."""
        return replace(self, legacy=bool(self.controller_id) and self.controller_id == default_controller)

    def fingerprint(self) -> bytes:
        """What a page token of this query is bound to (the controller too: a token never changes hands)."""
        return json.dumps([self.subject_ref, self.event_type, self.producer,
                           self.occurred_from.isoformat() if self.occurred_from else "",
                           self.occurred_until.isoformat() if self.occurred_until else "",
                           self.controller_id, self.legacy]).encode()


def belongs_to(entry_controller: str | None, controller_id: str, default_controller: str) -> bool:
    """Whether an entry naming `entry_controller` (None: from before controllers) is controller_id's."""
    if entry_controller is None:
        return bool(controller_id) and controller_id == default_controller
    return entry_controller == controller_id
