"""Keyvault domain events -> typed protobuf payloads for the outbox (envelope built by the relay)."""

import uuid
from datetime import UTC, datetime

from consentry.keyvault.v1 import events_pb2 as pb
from consentry.keyvault.v1 import keyvault_pb2
from services.common.outbox import PendingEvent
from services.keyvault.domain import events as ev
from services.keyvault.domain.model import Certificate


def to_pending(event_id: str, event: ev.Event) -> PendingEvent:
    # The controller travels on the envelope (and picks the subject's event key), not in the payload.
    return PendingEvent(uuid.UUID(event_id), event.type, event.subject_id, _payload(event), datetime.now(UTC),
                        controller_id=event.controller_id)


def _payload(event: ev.Event):
    match event:
        case ev.SubjectKeyCreated(subject_id, backend, _):
            return pb.SubjectKeyCreated(subject_id=subject_id, backend=backend)
        case ev.KeyReleased(subject_id, purpose_id, operation, client_id, consent_id, _, count):
            return pb.KeyReleased(subject_id=subject_id, purpose_id=purpose_id, operation=operation.value,
                                  client_id=client_id, consent_id=consent_id, count=count)
        case ev.PurposeKeysRetired(subject_id, purpose_id, generation, consent_id, _):
            return pb.PurposeKeysRetired(subject_id=subject_id, purpose_id=purpose_id, generation=generation,
                                         consent_id=consent_id)
        case ev.SubjectKeyShredded(request_id, certificate, _):
            return pb.SubjectKeyShredded(request_id=request_id, certificate=_certificate(certificate))
        case ev.ControllerOffboarded(certificate, subject_keys, _):
            return pb.ControllerOffboarded(certificate=_certificate(certificate), subject_keys_destroyed=subject_keys)
        case ev.KekRotated(kek_name, version, rewrapped, min_available, _):
            return pb.KekRotated(kek_name=kek_name, kek_version=version, keys_rewrapped=rewrapped,
                                 min_available_version=min_available)
    raise TypeError(f"no payload for {type(event).__name__}")


def _certificate(certificate: Certificate) -> keyvault_pb2.DeletionCertificate:
    return keyvault_pb2.DeletionCertificate(certificate_json=certificate.certificate_json,
                                            signature=certificate.signature, key_id=certificate.key_id)
