"""Face Recognition Measures (CAC/MPS, 2025): what they ask of the platform, one test per requirement."""

import base64

import grpc
import pytest

from consentry.audit.v1 import audit_pb2 as pb
from services.common.grpc_errors import field_violations
from tests.audit.test_log import entries_of, face_event
from tests.keyvault.test_data_keys import refused
from tests.legal import requirement
from tests.support import unique

pytestmark = pytest.mark.parametrize("backend", ["wrapped"], scope="session")

JPEG_HEADER = base64.b64encode(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01").decode()
FACE_DATA = {
    "base64 JPEG": JPEG_HEADER,
    "long hex": bytes(range(48)).hex(),
    "data URI": f"data:image/jpeg;base64,{JPEG_HEADER}",
}


@requirement("PIPL 55, 56; Measures Art. 9", "No face data in the audit log: attributes that look like an image"
             " or a template are refused")
async def test_measures_9_no_face_data_in_audit(face_events, dpo, backend):
    subject = unique("subj")
    ordinary = face_event(subject, attributes={"liveness": "passed", "reason": "low light, retried"})
    carrying = [face_event(subject, attributes={"debug": value}) for value in FACE_DATA.values()]

    errors = [await refused(face_events.Append, pb.AppendRequest(events=[e])) for e in carrying]
    await face_events.Append(pb.AppendRequest(events=[ordinary]))
    entries = await entries_of(dpo, subject, until=lambda es: any(e["eventId"] == ordinary.event_id for e in es))

    for error in errors:
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field_violations(error) == [("events[0].attributes['debug']", "string.no_face_data")]
    assert [e["eventId"] for e in entries] == [ordinary.event_id]
    assert entries[0]["payload"]["attributes"] == {"liveness": "passed", "reason": "low light, retried"}
