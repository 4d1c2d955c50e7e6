"""What the audit log keeps of each producer's event payloads: only the fields listed here for the
payload's type, each chosen because it cannot identify a person (ids of purposes, consents, requests
and tasks, notice versions, states, reason codes, counts, times). Never a subject or guardian id, a
tombstone, an evidence reference, a certificate, free text, corrections or exported data.

A field not listed is dropped, so a field added to a payload stays out of the log until it is listed
here; a payload type not listed keeps no field at all (its event is still logged, under its type).
Paths are the proto field names, dotted into nested messages; each ends at a scalar, an enum or a
Timestamp/Duration, never at a message kept whole."""

import base64
import functools
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from google.protobuf import any_pb2, timestamp_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError, Message

from consentry.consent.v1 import events_pb2 as consent
from consentry.dsr.v1 import events_pb2 as dsr
from consentry.events.v1 import outbox_pb2 as outbox
from consentry.keyvault.v1 import events_pb2 as keyvault

# A consent record, in every consent event: which purpose and notice, its state, by whom in kind
# (subject or guardian), and when. Not the subject, the guardian, the evidence, the subject's age.
CONSENT = ("consent_id", "purpose_id", "controller_id", "state", "notice_version", "notice_language",
           "notice_hash", "jurisdiction", "collection_method", "actor.kind", "alternative_offered",
           "granted_at", "expires_at", "last_interaction_at", "updated_at")

# A purpose as registered: its structured terms. Not its name, description, alternative, withdrawal
# method or recipients, which are free text.
PURPOSE = ("purpose_id", "controller_id", "data_categories", "storage_location", "retention", "legal_basis",
           "minimum_age", "current_notice_version", "created_at")


# A controller as registered: its id, where it answers, and when. Not its name, address or contact point,
# which are free text (a contact point may be a person's own e-mail address or number).
CONTROLLER = ("controller_id", "jurisdiction", "created_at")


def _under(field: str, paths: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f"{field}.{path}" for path in paths)


KEPT_FIELDS: dict[type[Message], tuple[str, ...]] = {
    consent.ControllerRegistered: _under("controller", CONTROLLER),
    consent.PurposeRegistered: _under("purpose", PURPOSE),
    consent.NoticePublished: ("purpose_id", "version", "languages", "content_hashes", "material_change"),
    consent.ConsentGranted: _under("consent", CONSENT),
    consent.ConsentWithdrawn: _under("consent", CONSENT),  # not the reason: the person's own words
    consent.ConsentExpired: (*_under("consent", CONSENT), "cause"),
    consent.ConsentRenewalRequired: (*_under("consent", CONSENT), "required_notice_version"),
    consent.SubjectErased: ("request_id", "consents_erased"),  # not the tombstone: it recognises the person
    consent.FilingThresholdCrossed: ("controller_id", "subjects_with_stored_face_data", "threshold", "state"),
    keyvault.SubjectKeyCreated: ("backend",),
    keyvault.KeyReleased: ("purpose_id", "operation", "client_id", "consent_id", "count"),
    keyvault.SubjectKeyShredded: ("request_id",),  # not the certificate: it names the subject by a keyed tag
    keyvault.KekRotated: ("kek_name", "kek_version", "keys_rewrapped", "min_available_version"),
    # Not the certificate: kept by keyvault and the operator; the controller is on the envelope.
    keyvault.ControllerOffboarded: ("subject_keys_destroyed",),
    keyvault.PurposeKeysRetired: ("purpose_id", "generation", "consent_id"),
    # Not the note: free text.
    dsr.RequestStatusChanged: ("request_id", "request_type", "request_status", "jurisdiction", "due_at",
                               "acknowledgement_due_at", "acknowledged_at"),
    dsr.TaskSettled: ("request_id", "task_id", "processor", "ok"),  # not the processor's reason: free text
    # Any producer's event whose outbox row was redacted at an erasure: it has no field, its type says so.
    outbox.Redacted: (),
}

_BY_NAME = {kind.DESCRIPTOR.full_name: (kind, frozenset(paths)) for kind, paths in KEPT_FIELDS.items()}


def kept(payload: any_pb2.Any) -> dict:
    """The payload's listed fields as proto3 JSON under its "@type"; {} for a type not listed, or one
    whose bytes do not parse or hold a time JSON cannot write (a Timestamp past year 9999)."""
    listed = _BY_NAME.get(payload.TypeName())
    if listed is None:
        return {}
    kind, paths = listed
    message = kind()
    try:
        message.ParseFromString(payload.value)
        listed = _listed_as_json(message, paths)
    except (DecodeError, ValueError):
        return {}
    return {"@type": f"type.googleapis.com/{kind.DESCRIPTOR.full_name}", **listed}


def _listed_as_json(message: Message, paths: frozenset[str]) -> dict:
    """The listed fields as json_format.MessageToDict writes the message once every other field is
    cleared (proto3 JSON names; a message on a listed path that is set but keeps nothing is {}), read
    straight from the fields that are set: the audit process does this for every event it takes in."""
    plan = _plan(message.DESCRIPTOR, paths)
    found = {}
    for field, value in message.ListFields():
        step = plan.get(field)
        if step is not None:
            name, write, inner = step
            found[name] = write(value) if write is not None else _listed_as_json(value, inner)
    return found


# Its JSON name, and how its value is written: by a function, or (a message on the way to listed
# fields) as the fields listed inside it.
Step = tuple[str, Callable[[Any], Any] | None, frozenset[str]]


@functools.cache
def _plan(descriptor: Descriptor, paths: frozenset[str]) -> dict[FieldDescriptor, Step]:
    """For each field of the message that is listed or leads to listed fields, how it is written
    (worked out once per type and list: every event of a type asks the same)."""
    below = _paths_below(paths)
    plan: dict[FieldDescriptor, Step] = {}
    for field in descriptor.fields:
        if field.name in paths:
            write = _writer(field)
            plan[field] = (field.json_name, (lambda values, one=write: [one(v) for v in values])
                           if field.is_repeated else write, frozenset())
        elif field.name in below and field.message_type is not None and not field.is_repeated:
            plan[field] = (field.json_name, None, below[field.name])
    return plan


def _writer(field: FieldDescriptor) -> Callable[[Any], Any]:
    """How one value is written in proto3 JSON (json_format's rules for the kinds a listed path may end
    at; a float has no rule here, and the tests refuse a list naming one)."""
    if field.message_type is not None:  # Timestamp or Duration (the tests refuse any other)
        return _timestamp if field.message_type.full_name == "google.protobuf.Timestamp" else _to_json_string
    if field.cpp_type == FieldDescriptor.CPPTYPE_ENUM:
        names = {v.number: v.name for v in field.enum_type.values}
        return lambda number: names.get(number, number)  # a number this build does not know stays one
    return _SCALARS[field.cpp_type]


def _to_json_string(value: Message) -> str:
    return value.ToJsonString()


_EPOCH = datetime(1970, 1, 1)
_SECOND = timedelta(seconds=1)
_YEAR_1, _YEAR_9999 = -62135596800, 253402300799  # the range RFC 3339 (and Timestamp) can write


def _timestamp(value: timestamp_pb2.Timestamp) -> str:
    """Timestamp.ToJsonString's text (3, 6 or 9 digits of a fraction, or none), in integers where it
    uses floats (the tests compare the two); a time it refuses is left to it, to refuse."""
    seconds, nanos = value.seconds, value.nanos
    if not (_YEAR_1 <= seconds <= _YEAR_9999 and 0 <= nanos < 1_000_000_000):
        return value.ToJsonString()
    text = (_EPOCH + seconds * _SECOND).isoformat()
    if nanos == 0:
        return text + "Z"
    if nanos % 1_000_000 == 0:
        return f"{text}.{nanos // 1_000_000:03d}Z"
    if nanos % 1_000 == 0:
        return f"{text}.{nanos // 1_000:06d}Z"
    return f"{text}.{nanos:09d}Z"


_SCALARS: dict[int, Callable[[Any], Any]] = {
    FieldDescriptor.CPPTYPE_STRING: lambda v: base64.b64encode(v).decode() if isinstance(v, bytes) else v,
    FieldDescriptor.CPPTYPE_BOOL: bool,
    FieldDescriptor.CPPTYPE_INT32: int,
    FieldDescriptor.CPPTYPE_UINT32: int,
    FieldDescriptor.CPPTYPE_INT64: str,  # 64-bit integers are strings in proto3 JSON
    FieldDescriptor.CPPTYPE_UINT64: str,
}


@functools.cache
def _paths_below(paths: frozenset[str]) -> dict[str, frozenset[str]]:
    """For each field named at the head of a dotted path, the paths inside it (worked out once per
    set of paths: every event of a type asks the same)."""
    below: dict[str, set[str]] = {}
    for path in paths:
        head, _, rest = path.partition(".")
        if rest:
            below.setdefault(head, set()).add(rest)
    return {head: frozenset(rest) for head, rest in below.items()}
