"""From a Kafka envelope to an event on its way into the log. Typed payloads of every producer's
events.proto are turned into JSON (and minimised later, when the entry is made)."""

import uuid
from dataclasses import dataclass
from datetime import UTC

from google.protobuf import json_format

from consentry.consent.v1 import events_pb2 as _consent_events  # noqa: F401 - registers the payload types
from consentry.events.v1 import envelope_pb2, outbox_pb2
from consentry.keyvault.v1 import events_pb2 as _keyvault_events  # noqa: F401
from services.audit.domain.entry import Event
from services.common.outbox import WATERMARK_TYPE


@dataclass(frozen=True)
class Watermark:
    producer: str
    last_sequence: int


def envelope_of(value: bytes) -> envelope_pb2.EventEnvelope | None:
    """None for a message that is not a Consentry envelope (it cannot be placed in the log)."""
    try:
        envelope = envelope_pb2.EventEnvelope.FromString(value)
        uuid.UUID(envelope.event_id)
    except Exception:  # noqa: BLE001 - anything unreadable is skipped, never half-read
        return None
    return envelope


def decode(envelope: envelope_pb2.EventEnvelope) -> Event | Watermark | None:
    """An envelope as read (opened, if it was sealed): a sealed one that could not be opened (the
    person was erased) enters the log naming nobody, with no payload."""
    if envelope.type == WATERMARK_TYPE:
        mark = outbox_pb2.Watermark()
        return Watermark(envelope.producer, mark.last_sequence) if envelope.payload.Unpack(mark) else None
    if not envelope.HasField("payload"):
        payload = {}
    else:
        try:
            payload = json_format.MessageToDict(envelope.payload)
        except (TypeError, json_format.Error):  # a type this audit build does not know: keep its name only
            payload = {"@type": envelope.payload.type_url}
    return Event(envelope.event_id, envelope.producer, envelope.sequence or None, envelope.type,
                 envelope.subject_id, envelope.occurred_at.ToDatetime(tzinfo=UTC),
                 payload)
