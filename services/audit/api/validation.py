"""Edge validation of audit requests: each bad field named, nothing appended or read."""

import re
import uuid
from datetime import UTC, datetime

from consentry.audit.v1 import audit_pb2 as pb
from services.audit.api.face_data import encoded_binary
from services.audit.domain.entry import EntryFilter, Event
from services.audit.service.reader import DEFAULT_PAGE, MAX_PAGE
from services.common import auth
from services.common.validation import Validator, present

MAX_EVENTS = 1000
# Face events happen now; a device clock far off is a bug to report, not a time to log.
EARLIEST_EVENT = datetime(2000, 1, 1, tzinfo=UTC)
# Sequences are JSON numbers in the hashed entries: exact only below 2**53.
MAX_SEQUENCE = 2**53 - 1
FACE_EVENT_TYPE = re.compile(r"^face(\.[a-z][a-z0-9_]{0,39}){1,4}$")
# What the platform's staff did in the console, appended by the console alone (records_staff_actions).
STAFF_EVENT_TYPE = re.compile(r"^console(\.[a-z][a-z0-9_]{0,39}){1,4}$")
SUBJECT_REF = re.compile(r"^[0-9a-f]{64}$")
EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){1,5}$")
MAX_ATTRIBUTES = 16
MAX_ATTRIBUTE_LENGTH = 256


def _no_face_data(v: Validator, field: str, value: str) -> None:
    if (looks_like := encoded_binary(value)) is not None:
        v.fail(field, "string.no_face_data", f"looks like {looks_like}: face data (images, templates) and"
               " other encoded binary must not enter the audit log (PIPL 55, 56; Face Recognition Measures Art. 9)")


def _free_text(v: Validator, field: str, value: str, *, max_len: int) -> None:
    """Short, readable, and nothing that looks like a face (see face_data.py)."""
    v.text(field, value, max_len=max_len, required=False)
    if len(value) <= max_len:
        _no_face_data(v, field, value)


def append(request: pb.AppendRequest, producer: str) -> list[Event]:
    """The events, each its caller's controller's (an operator names the controller: it has none).
    The console (a client that records_staff_actions) appends what staff did instead: "console." events,
    about a person or about none, in a controller or (a platform operator's) in none."""
    v = Validator()
    staff = auth.current_client().records_staff_actions
    controller = auth.controller_scope(request.controller_id, v) or "" if staff else \
        auth.acting_controller(request.controller_id, v)
    v.count("events", request.events, least=1, most=MAX_EVENTS)
    now, occurred = datetime.now(UTC), []
    for i, e in enumerate(request.events[:MAX_EVENTS]):
        f = f"events[{i}]"
        v.uuid(f"{f}.event_id", e.event_id)
        if staff:
            v.matches(f"{f}.type", e.type, STAFF_EVENT_TYPE, 'a dotted name starting with "console."')
            v.optional_identifier(f"{f}.subject_id", e.subject_id)
            v.check(not (e.subject_id and not controller), "controller_id", "string.controller_for_subject",
                    "name the controller the subject is a subject of")
        else:
            v.matches(f"{f}.type", e.type, FACE_EVENT_TYPE, 'a dotted name starting with "face.", e.g. face.enrolled')
            v.identifier(f"{f}.subject_id", e.subject_id)
        occurred.append(v.timestamp(f"{f}.occurred_at", present(e, "occurred_at"), required=True,
                                    earliest=EARLIEST_EVENT, latest=now))
        _free_text(v, f"{f}.result", e.result, max_len=64)
        v.check(0.0 <= e.score <= 1.0, f"{f}.score", "double.gte_lte", "must be between 0 and 1")
        _free_text(v, f"{f}.device_id", e.device_id, max_len=128)
        v.check(e.sequence <= MAX_SEQUENCE, f"{f}.sequence", "uint64.lte", f"must be at most {MAX_SEQUENCE}")
        v.count(f"{f}.attributes", e.attributes, most=MAX_ATTRIBUTES)
        for key, value in list(e.attributes.items())[:MAX_ATTRIBUTES]:
            v.identifier(f"{f}.attributes[{key!r}]", key)
            _no_face_data(v, f"{f}.attributes[{key!r}]", key)
            _free_text(v, f"{f}.attributes[{key!r}]", value, max_len=MAX_ATTRIBUTE_LENGTH)
    v.done()
    return [Event(str(uuid.UUID(e.event_id)), producer, e.sequence or None, e.type, e.subject_id, at,
                  _face_payload(e), controller) for e, at in zip(request.events, occurred, strict=True)]


def _face_payload(e: pb.FaceSystemEvent) -> dict:
    payload: dict = {}
    if e.result:  # a match attempt: its outcome and score
        payload.update(result=e.result, score=e.score)
    if e.device_id:
        payload["deviceId"] = e.device_id
    if e.attributes:
        payload["attributes"] = dict(e.attributes)
    return payload


def tree_size(field: str, value: int) -> None:
    v = Validator()
    v.check(value < 2**62, field, "uint64.lt", "out of range")
    v.done()


def consistency(request: pb.GetConsistencyProofRequest) -> None:
    v = Validator()
    for field in ("old_size", "new_size"):
        v.check(getattr(request, field) < 2**62, field, "uint64.lt", "out of range")
    v.check(request.old_size > 0, "old_size", "uint64.gt", "must be at least 1 (the empty tree needs no proof)")
    v.check(not request.new_size or request.old_size <= request.new_size, "old_size", "uint64.lte",
            "must not exceed new_size")
    v.done()


def event_filter(f: pb.EventFilter, v: Validator) -> EntryFilter:
    """In the caller's controller (auth.controller_scope); a subject id only in one controller."""
    controller = auth.controller_scope(f.controller_id, v, "filter.controller_id")
    v.optional_identifier("filter.subject_id", f.subject_id)
    v.check(not (f.subject_id and controller is None), "filter.controller_id",
            "filter.controller_for_subject", "name the controller the subject is a subject of (the same person"
            " at two controllers is two subjects), or give the subject_ref")
    if f.subject_ref:
        v.matches("filter.subject_ref", f.subject_ref, SUBJECT_REF, "64 lowercase hex characters")
    v.check(not (f.subject_id and f.subject_ref), "filter.subject_ref", "filter.one_subject",
            "give either subject_id or subject_ref")
    if f.type:
        v.matches("filter.type", f.type, EVENT_TYPE, "a dotted event type, e.g. consent.withdrawn")
    v.optional_identifier("filter.producer", f.producer)
    start = v.timestamp("filter.occurred_from", present(f, "occurred_from"))
    end = v.timestamp("filter.occurred_until", present(f, "occurred_until"))
    v.check(start is None or end is None or start < end, "filter.occurred_until", "timestamp.gt",
            "must be after occurred_from")
    return EntryFilter(f.subject_ref, f.type, f.producer, start, end, controller)


def query(request: pb.QueryEventsRequest) -> tuple[EntryFilter, int]:
    """The filter and the page size."""
    v = Validator()
    where = event_filter(request.filter, v)
    size = v.page(request.page_size, request.page_token, default=DEFAULT_PAGE, most=MAX_PAGE)
    v.done()
    return where, size


def export(request: pb.ExportEventsRequest) -> EntryFilter:
    v = Validator()
    where = event_filter(request.filter, v)
    v.done()
    return where
