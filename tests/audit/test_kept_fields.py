"""The log keeps of an event's payload only the fields listed for its type as known to identify
nobody: every payload type of every producer's events file has a list, a field not on it (one the
proto has, or one added later) is dropped, and a type with no list keeps no field but is logged."""

import importlib
import json
import random
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from google.protobuf import any_pb2, descriptor_pb2, descriptor_pool, json_format, message_factory, timestamp_pb2
from google.protobuf.descriptor import FieldDescriptor

from consentry.consent.v1 import consent_pb2
from consentry.consent.v1 import events_pb2 as consent_events
from consentry.dsr.v1 import dsr_pb2
from consentry.dsr.v1 import events_pb2 as dsr_events
from consentry.events.v1 import envelope_pb2, outbox_pb2
from services.audit.domain.entry import Entry
from services.audit.events.decoding import decode, envelope_of
from services.audit.events import kept_fields
from services.audit.events.kept_fields import KEPT_FIELDS

PROTO = Path(__file__).resolve().parents[2] / "proto"
EVENTS_FILES = sorted(PROTO.glob("consentry/*/v1/events*.proto"))
LEAF_MESSAGES = {"google.protobuf.Timestamp", "google.protobuf.Duration"}
PERSON = {"subject": "alice-4711", "guardian": "bob-guardian-0815", "verification": "passport-E1234567",
          "evidence": "s3://evidence/alice-signature.png", "reason": "I moved to Hangzhou, call me on 138 0013 8000"}


def payload_types() -> list:
    """Every message of every producer's events file, found from the files themselves: a new file or
    a new payload type is checked without editing this test."""
    found = []
    for path in EVENTS_FILES:
        module = importlib.import_module(".".join(path.relative_to(PROTO).with_suffix("").parts) + "_pb2")
        found += module.DESCRIPTOR.message_types_by_name.values()
    return found


def test_the_events_files_are_found():
    names = {d.full_name for d in payload_types()}
    assert len(EVENTS_FILES) >= 3
    assert {"consentry.consent.v1.ConsentGranted", "consentry.keyvault.v1.KeyReleased",
            "consentry.dsr.v1.RequestStatusChanged"} <= names


@pytest.mark.parametrize("desc", payload_types(), ids=lambda d: d.full_name)
def test_every_payload_type_has_a_list_of_kept_fields(desc):
    listed = {kind.DESCRIPTOR.full_name for kind in KEPT_FIELDS}

    assert desc.full_name in listed, (
        f"{desc.full_name} has no entry in services/audit/events/kept_fields.py: decide which of its fields "
        "(if any) cannot identify a person, and list them")


@pytest.mark.parametrize("kind", KEPT_FIELDS, ids=lambda k: k.DESCRIPTOR.full_name)
def test_every_listed_path_ends_at_a_value_never_at_a_whole_message(kind):
    for path in KEPT_FIELDS[kind]:
        desc, *names, last = [kind.DESCRIPTOR, *path.split(".")]
        for name in names:
            field = desc.fields_by_name.get(name)
            assert field is not None and field.message_type is not None and not field.is_repeated, path
            desc = field.message_type
        field = desc.fields_by_name.get(last)
        assert field is not None, f"{kind.DESCRIPTOR.full_name}: no field {path}"
        assert field.type != FieldDescriptor.TYPE_MESSAGE or field.message_type.full_name in LEAF_MESSAGES, (
            f"{kind.DESCRIPTOR.full_name}.{path} would keep a message whole, fields added later included")


def cleared_then_printed(message, paths: frozenset[str]) -> dict:
    """What a payload keeps, by definition: every field not listed cleared, then protobuf's own JSON
    printer (the audit process reads the listed fields without either step, for speed)."""
    copy = type(message)()
    copy.CopyFrom(message)
    clear_unlisted(copy, paths)
    return json_format.MessageToDict(copy)


def clear_unlisted(message, paths: frozenset[str]) -> None:
    message.DiscardUnknownFields()
    below = kept_fields._paths_below(paths)
    for field, value in message.ListFields():
        if field.name in paths:
            continue
        if below.get(field.name) and field.message_type is not None and not field.is_repeated:
            clear_unlisted(value, below[field.name])
        else:
            message.ClearField(field.name)


TEXT = ["", "a", "中文", "é\u2028\x00\x1f\"\\", "\U0001F600", "x" * 300]


def filled(kind, rng: random.Random, depth: int = 0):
    """A message of `kind` with a random choice of its fields set, nested ones too, to random values:
    unknown enum numbers, the ends of each integer range, any text."""
    message = kind()
    for field in kind.DESCRIPTOR.fields:
        if rng.random() < 0.25 or (field.message_type is not None and field.message_type.GetOptions().map_entry):
            continue
        if field.is_repeated:
            values = [random_value(field, rng, depth) for _ in range(rng.randint(0, 3))]
            if field.message_type is not None:
                for value in values:
                    getattr(message, field.name).add().CopyFrom(value)
            else:
                getattr(message, field.name).extend(values)
        elif field.message_type is not None:
            getattr(message, field.name).CopyFrom(random_value(field, rng, depth))
        else:
            setattr(message, field.name, random_value(field, rng, depth))
    return message


def random_value(field, rng: random.Random, depth: int):
    kinds = FieldDescriptor
    if field.message_type is not None:
        name = field.message_type.full_name
        if name == "google.protobuf.Timestamp":
            return timestamp_pb2.Timestamp(seconds=rng.randint(-62135596800, 253402300799), nanos=rng.choice(
                [0, 1_000_000, 1_000, 1, 999_999_999]))
        if name == "google.protobuf.Duration":
            seconds = rng.randint(-315576000000, 315576000000)
            return json_format.Parse(json.dumps(f"{seconds}.{rng.choice(['0', '5', '000001', '123456789'])}s"),
                                     field.message_type._concrete_class())
        kind = field.message_type._concrete_class
        return kind() if depth > 2 else filled(kind, rng, depth + 1)
    if field.cpp_type == kinds.CPPTYPE_ENUM:
        return rng.choice([*(v.number for v in field.enum_type.values), 999])
    if field.cpp_type == kinds.CPPTYPE_STRING:
        return rng.choice(TEXT).encode() if field.type == kinds.TYPE_BYTES else rng.choice(TEXT)
    if field.cpp_type == kinds.CPPTYPE_BOOL:
        return rng.random() < 0.5
    bounds = {kinds.CPPTYPE_INT32: (-2**31, 2**31 - 1), kinds.CPPTYPE_UINT32: (0, 2**32 - 1),
              kinds.CPPTYPE_INT64: (-2**63, 2**63 - 1), kinds.CPPTYPE_UINT64: (0, 2**64 - 1)}
    low, high = bounds[field.cpp_type]  # a float would need json_format's float rules: no list may name one
    return rng.choice([low, high, 0, 1, rng.randint(low, high)])


@pytest.mark.parametrize("kind", KEPT_FIELDS, ids=lambda k: k.DESCRIPTOR.full_name)
def test_what_a_payload_keeps_is_protobufs_json_of_its_listed_fields(kind):
    rng, paths = random.Random(kind.DESCRIPTOR.full_name), frozenset(KEPT_FIELDS[kind])
    messages = [kind(), *(filled(kind, rng) for _ in range(300))]

    kept_some = 0
    for message in messages:
        payload = packed(message)
        expected = {"@type": f"type.googleapis.com/{kind.DESCRIPTOR.full_name}", **cleared_then_printed(message, paths)}
        assert kept_fields.kept(payload) == expected, message
        kept_some += len(expected) > 1
    assert kept_some > len(messages) // 4 or not paths  # the comparison saw listed fields set, not only empty payloads


def envelope(payload: any_pb2.Any, event_type: str = "consent.withdrawn",
             producer: str = "consent") -> envelope_pb2.EventEnvelope:
    occurred = timestamp_pb2.Timestamp()
    occurred.GetCurrentTime()
    return envelope_pb2.EventEnvelope(event_id=str(uuid.uuid4()), type=event_type, producer=producer, sequence=7,
                                      occurred_at=occurred, subject_id=PERSON["subject"], payload=payload)


def packed(message, extra: bytes = b"") -> any_pb2.Any:
    return any_pb2.Any(type_url=f"type.googleapis.com/{message.DESCRIPTOR.full_name}",
                       value=message.SerializeToString() + extra)


def withdrawal() -> consent_events.ConsentWithdrawn:
    return consent_events.ConsentWithdrawn(reason=PERSON["reason"], consent=consent_pb2.Consent(
        consent_id="c-1", subject_id=PERSON["subject"], purpose_id="gate-access", controller_id="campus",
        state=consent_pb2.CONSENT_STATE_WITHDRAWN, notice_version=3, notice_hash="ab" * 32, jurisdiction="CN",
        evidence_ref=PERSON["evidence"], subject_age=12, granted_at=timestamp_pb2.Timestamp(seconds=1_700_000_000),
        actor=consent_pb2.Actor(kind=consent_pb2.ACTOR_KIND_GUARDIAN, guardian_id=PERSON["guardian"],
                                guardian_verification_ref=PERSON["verification"])))


def logged(e: envelope_pb2.EventEnvelope) -> dict:
    """The entry's hashed JSON, as the log stores it."""
    return json.loads(Entry.of(decode(e), "f" * 64).body)


def test_a_payload_keeps_its_listed_fields_and_nothing_that_names_the_person():
    entry = logged(envelope(packed(withdrawal())))

    assert entry["type"] == "consent.withdrawn" and entry["subjectRef"] == "f" * 64
    assert entry["payload"] == {
        "@type": "type.googleapis.com/consentry.consent.v1.ConsentWithdrawn",
        "consent": {"consentId": "c-1", "purposeId": "gate-access", "controllerId": "campus",
                    "state": "CONSENT_STATE_WITHDRAWN", "noticeVersion": 3, "noticeHash": "ab" * 32,
                    "jurisdiction": "CN", "actor": {"kind": "ACTOR_KIND_GUARDIAN"},
                    "grantedAt": "2023-11-14T22:13:20Z"}}
    text = json.dumps(entry, ensure_ascii=False)
    assert not [value for value in PERSON.values() if value in text]


def newer_build(kind, field: str, number: int):
    """The payload type as a build with one more string field has it (its own descriptor pool)."""
    pool, added = descriptor_pool.DescriptorPool(), set()

    def add(file) -> None:
        for dependency in file.dependencies:
            if dependency.name not in added:
                add(dependency)
        proto = descriptor_pb2.FileDescriptorProto()
        file.CopyToProto(proto)
        if file.name == kind.DESCRIPTOR.file.name:
            message = next(m for m in proto.message_type if m.name == kind.DESCRIPTOR.name)
            message.field.add(name=field, number=number, type=FieldDescriptor.TYPE_STRING,
                              label=FieldDescriptor.LABEL_OPTIONAL, json_name=field)
        pool.Add(proto)
        added.add(file.name)

    add(kind.DESCRIPTOR.file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(kind.DESCRIPTOR.full_name))


def test_a_field_added_to_a_payload_is_dropped_until_it_is_listed(monkeypatch):
    newer = newer_build(consent_events.ConsentWithdrawn, "face_image_url", 99)
    paths = kept_fields.KEPT_FIELDS[consent_events.ConsentWithdrawn]
    sent = newer.FromString(withdrawal().SerializeToString())
    sent.face_image_url = "https://cdn.example/alice.jpg"

    # Audit built from the newer proto too (it knows the field), and built from the older one.
    monkeypatch.setitem(kept_fields._BY_NAME, newer.DESCRIPTOR.full_name, (newer, frozenset(paths)))
    by_newer = logged(envelope(packed(sent)))
    monkeypatch.undo()
    by_older = logged(envelope(packed(sent)))

    for entry in (by_newer, by_older):
        assert "alice.jpg" not in json.dumps(entry)
        assert entry["payload"]["consent"]["purposeId"] == "gate-access"


def test_free_text_a_payload_always_had_is_not_kept():
    purpose = consent_pb2.Purpose(purpose_id="gate-access", controller_id="campus", name="Alice's door",
                                  description=f"for {PERSON['subject']}", minimum_age=14)
    entry = logged(envelope(packed(consent_events.PurposeRegistered(purpose=purpose)), "purpose.registered"))

    assert entry["payload"]["purpose"] == {"purposeId": "gate-access", "controllerId": "campus", "minimumAge": 14}


def test_a_payload_type_with_no_list_keeps_no_field_but_the_event_is_logged():
    unknown = any_pb2.Any(type_url="type.googleapis.com/consentry.consent.v1.ConsentPhotographed",
                          value=consent_events.ConsentWithdrawn(reason=PERSON["reason"]).SerializeToString())
    entry = logged(envelope(unknown, "consent.photographed"))

    assert entry["type"] == "consent.photographed" and entry["payload"] == {}


def test_a_redacted_event_is_logged_as_redacted():
    redacted = any_pb2.Any()
    redacted.Pack(outbox_pb2.Redacted())

    assert logged(envelope(redacted))["payload"] == {"@type": "type.googleapis.com/consentry.events.v1.Redacted"}


def test_a_time_json_cannot_write_keeps_no_field_and_takes_nothing_else_down():
    """A payload's Timestamp past year 9999 (or an envelope's), as a broken or hostile producer may
    send: the payload keeps no field, the envelope is not placed in the log, the events beside them
    are read as usual."""
    late = withdrawal()
    late.consent.expires_at.seconds = 253402300800  # 10000-01-01
    broken_time = envelope(packed(late))
    out_of_range = envelope(packed(withdrawal()))
    out_of_range.occurred_at.nanos = -1

    assert logged(broken_time)["payload"] == {}
    assert envelope_of(out_of_range.SerializeToString()) is None
    assert logged(envelope(packed(withdrawal())))["payload"]["consent"]["consentId"] == "c-1"


def test_an_unparsable_payload_keeps_no_field():
    broken = any_pb2.Any(type_url="type.googleapis.com/consentry.consent.v1.ConsentWithdrawn", value=b"\xff\xff")

    assert logged(envelope(broken))["payload"] == {}


DSR_DECODED_ALONE = """
import json, sys
from consentry.events.v1 import envelope_pb2, outbox_pb2
from services.audit.events.decoding import decode
print(json.dumps(decode(envelope_pb2.EventEnvelope.FromString(sys.stdin.buffer.read())).payload))
"""


def test_dsr_events_are_decoded_and_minimised_in_an_audit_process_of_their_own():
    """In a fresh interpreter that imports only audit's decoder: nothing else registers dsr's types."""
    changed = dsr_events.RequestStatusChanged(request_id="r-1", request_type=dsr_pb2.REQUEST_TYPE_DELETION,
                                              request_status=dsr_pb2.REQUEST_STATUS_REJECTED,
                                              jurisdiction="DE", note=f"rejected: {PERSON['reason']}")
    settled = dsr_events.TaskSettled(request_id="r-1", task_id="t-1", processor="door-a", ok=False,
                                     reason=f"no template for {PERSON['subject']}")
    payloads = []
    for message, event_type in ((changed, "dsr.request.rejected"), (settled, "dsr.task.failed")):
        run = subprocess.run([sys.executable, "-c", DSR_DECODED_ALONE], check=True, capture_output=True,
                             cwd=PROTO.parent, input=envelope(packed(message), event_type, "dsr").SerializeToString())
        payloads.append(json.loads(run.stdout))

    assert payloads == [
        {"@type": "type.googleapis.com/consentry.dsr.v1.RequestStatusChanged", "requestId": "r-1",
         "requestType": "REQUEST_TYPE_DELETION", "requestStatus": "REQUEST_STATUS_REJECTED", "jurisdiction": "DE"},
        {"@type": "type.googleapis.com/consentry.dsr.v1.TaskSettled", "requestId": "r-1", "taskId": "t-1",
         "processor": "door-a"},
    ]
