"""From a Kafka envelope to an event on its way into the log. Of a typed payload of any producer's
events.proto only the fields listed in kept_fields.py are kept, as JSON."""

import uuid
from datetime import UTC

from consentry.events.v1 import envelope_pb2, outbox_pb2
from services.audit.domain.completeness import Watermark
from services.audit.domain.entry import Event
from services.audit.events.kept_fields import kept
from services.common.outbox import WATERMARK_TYPE


def envelope_of(value: bytes) -> envelope_pb2.EventEnvelope | None:
    """None for a message that is not a Consentry envelope (it cannot be placed in the log)."""
    try:
        envelope = envelope_pb2.EventEnvelope.FromString(value)
        uuid.UUID(envelope.event_id)
        envelope.occurred_at.ToDatetime()  # a time out of range would stop decode() later
    except Exception:  # noqa: BLE001 - anything unreadable is skipped, never half-read
        return None
    return envelope


def controller_of(envelope: envelope_pb2.EventEnvelope, payload: dict) -> str:
    """The controller the event belongs to: the envelope's (in the clear, so even an event that could
    not be opened has it); else the one its kept payload names (a purpose's, a consent's, a
    controller's own); else "" (decided by the sequencer: Sequencer._controller)."""
    if envelope.controller_id:
        return envelope.controller_id
    found = payload.get("controllerId")
    for inner in ("consent", "purpose", "controller"):
        found = found or (payload.get(inner) or {}).get("controllerId")
    return found if isinstance(found, str) else ""


def decode(envelope: envelope_pb2.EventEnvelope) -> Event | Watermark | None:
    """An envelope as read (opened, if it was sealed): a sealed one that could not be opened (the
    person was erased) enters the log naming nobody, with no payload; so does one whose payload type
    has no list of kept fields. Either way it names its controller."""
    if envelope.type == WATERMARK_TYPE:
        mark = outbox_pb2.Watermark()
        return Watermark(envelope.producer, mark.last_sequence) if envelope.payload.Unpack(mark) else None
    payload = kept(envelope.payload) if envelope.HasField("payload") else {}
    return Event(envelope.event_id, envelope.producer, envelope.sequence or None, envelope.type,
                 envelope.subject_id, envelope.occurred_at.ToDatetime(tzinfo=UTC),
                 payload, controller_of(envelope, payload))
