"""Whose an entry is, decided without I/O: the envelope's controller, else the one its kept payload
names, else (about a subject) the default controller's; entries from before controllers (no
controllerId) are read as the default controller's and nobody else's."""

import uuid
from datetime import UTC, datetime

from google.protobuf import any_pb2

from consentry.consent.v1 import consent_pb2
from consentry.consent.v1 import events_pb2 as consent
from consentry.events.v1 import envelope_pb2
from services.audit.domain.entry import Entry, Event, belongs_to, indexed_fields
from services.audit.events.decoding import decode
from services.audit.service.sequencer import Sequencer


def _envelope(subject: str = "p-1", controller: str = "", payload=None) -> envelope_pb2.EventEnvelope:
    envelope = envelope_pb2.EventEnvelope(event_id=str(uuid.uuid4()), producer="consent", type="consent.granted",
                                          subject_id=subject, controller_id=controller)
    if payload is not None:
        packed = any_pb2.Any()
        packed.Pack(payload)
        envelope.payload.CopyFrom(packed)
    return envelope


def _sequencer(default_controller: str) -> Sequencer:
    return Sequencer(None, None, None, None, None, default_controller=default_controller)  # type: ignore[arg-type]


def test_the_envelope_names_the_controller_else_the_kept_payload():
    granted = consent.ConsentGranted(consent=consent_pb2.Consent(consent_id="c-1", controller_id="river-bank"))

    assert decode(_envelope(controller="acme-campus", payload=granted)).controller_id == "acme-campus"
    assert decode(_envelope(payload=granted)).controller_id == "river-bank"
    assert decode(_envelope()).controller_id == ""


def test_an_event_naming_no_controller_is_the_default_controllers_if_about_a_subject():
    at = datetime(2026, 1, 5, tzinfo=UTC)
    about_subject = Event("e-1", "keyvault", 1, "keyvault.key.created", "p-1", at, {})
    about_nobody = Event("e-2", "keyvault", 2, "keyvault.kek.rotated", "", at, {})

    assert _sequencer("acme-campus")._controller(about_subject).controller_id == "acme-campus"
    assert _sequencer("acme-campus")._controller(about_nobody).controller_id == ""
    assert _sequencer("")._controller(about_subject).controller_id == ""
    named = Event("e-3", "consent", 3, "consent.granted", "p-1", at, {}, "river-bank")
    assert _sequencer("acme-campus")._controller(named).controller_id == "river-bank"


def test_an_entry_from_before_controllers_is_the_default_controllers_only():
    body = Entry.of(Event("e-1", "face-app", None, "face.enrolled", "p-1", datetime(2026, 1, 5, tzinfo=UTC), {},
                          "acme-campus"), "ab" * 32).body

    assert indexed_fields(body)["controllerId"] == "acme-campus"
    assert indexed_fields(b'{"v":1,"eventId":"e","producer":"p","sequence":null,"type":"t","subjectRef":"",'
                          b'"occurredAt":"x"}')["controllerId"] is None
    assert belongs_to(None, "acme-campus", "acme-campus") and not belongs_to(None, "river-bank", "acme-campus")
    assert not belongs_to(None, "", "") and not belongs_to(None, "acme-campus", "")
    assert belongs_to("river-bank", "river-bank", "acme-campus") and not belongs_to("acme-campus", "river-bank", "")
