"""Face Recognition Measures (CAC/MPS, 2025): what they ask of the platform, one test per requirement."""

import base64

import grpc
import pytest

from consentry.audit.v1 import audit_pb2 as apb
from consentry.consent.v1 import consent_pb2 as cpb
from consentry.consent.v1 import consent_pb2_grpc
from consentry.consent.v1 import events_pb2 as consent_events
from consentry.keyvault.v1 import events_pb2 as keyvault_events
from consentry.keyvault.v1 import keyvault_pb2 as pb
from consentry_client import DeviceStorageOnly, TemplateCipher, error_info
from services.common.grpc_errors import field_violations
from services.consent.app import ConsentApp
from tests.audit.test_log import entries_of, face_event
from tests.consent.builders import grant, register_default_controller, registered_purpose
from tests.consent.fixtures import consent_settings
from tests.keyvault.fixtures import TOPICS
from tests.keyvault.test_data_keys import refused
from tests.legal import requirement
from tests.support import Clients, EventOpener, read_events, secure_channel, unique

JPEG_HEADER = base64.b64encode(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01").decode()
FACE_DATA = {
    "base64 JPEG": JPEG_HEADER,
    "long hex": bytes(range(48)).hex(),
    "data URI": f"data:image/jpeg;base64,{JPEG_HEADER}",
}


@pytest.mark.parametrize("backend", ["wrapped"], indirect=True, scope="session")
@requirement("PIPL 55, 56; Measures Art. 9", "No face data in the audit log: attributes that look like an image"
             " or a template are refused")
async def test_measures_9_no_face_data_in_audit(face_events, dpo, backend):
    subject = unique("subj")
    ordinary = face_event(subject, attributes={"liveness": "passed", "reason": "low light, retried"})
    carrying = [face_event(subject, attributes={"debug": value}) for value in FACE_DATA.values()]

    errors = [await refused(face_events.Append, apb.AppendRequest(events=[e])) for e in carrying]
    await face_events.Append(apb.AppendRequest(events=[ordinary]))
    entries = await entries_of(dpo, subject, until=lambda es: any(e["eventId"] == ordinary.event_id for e in es),
                               kind="face.")  # the subject key made for its reference is logged beside it

    for error in errors:
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field_violations(error) == [("events[0].attributes['debug']", "string.no_face_data")]
    assert [e["eventId"] for e in entries] == [ordinary.event_id]
    assert entries[0]["payload"]["attributes"] == {"liveness": "passed", "reason": "low light, retried"}


@pytest.mark.parametrize("backend", ["wrapped"], indirect=True, scope="session")
@requirement("Measures Art. 8", "Face data stays on the device: no key for server storage without a separately "
                           "consented server-storage purpose")
async def test_measures_8_face_data_stays_on_the_device_unless_server_storage_consented(
        admin, gate, face, kafka, backend, keyvault_app, dev_ca):
    subject = unique("subj")
    on_device = await registered_purpose(admin, storage_location=cpb.STORAGE_LOCATION_DEVICE)
    on_server = await registered_purpose(admin, storage_location=cpb.STORAGE_LOCATION_SERVER)
    await gate.GrantConsent(grant(subject, on_device.purpose_id))

    device = await refused(face.GenerateDataKey, pb.GenerateDataKeyRequest(subject_id=subject,
                                                                           purpose_id=on_device.purpose_id))
    channel = secure_channel(dev_ca, keyvault_app.port, "face-app")
    try:
        with pytest.raises(DeviceStorageOnly):
            await TemplateCipher(channel).seal(subject, on_device.purpose_id, b"template")
    finally:
        await channel.close()
    not_consented = await refused(face.GenerateDataKey, pb.GenerateDataKeyRequest(subject_id=subject,
                                                                                  purpose_id=on_server.purpose_id))
    await gate.GrantConsent(grant(subject, on_server.purpose_id))  # its own consent
    issued = await face.GenerateDataKey(pb.GenerateDataKeyRequest(subject_id=subject, purpose_id=on_server.purpose_id))

    assert device.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_info(device).reason == "DEVICE_STORAGE_ONLY" and on_device.purpose_id in device.details()
    assert not_consented.code() == grpc.StatusCode.PERMISSION_DENIED  # the device consent does not cover it
    assert len(issued.plaintext_key) == 32
    # Releases are recorded in order per subject: the server release is seen, and none before it.
    opener = EventOpener(dev_ca, keyvault_app.port)
    try:
        events = await read_events(kafka, TOPICS[backend], opener=opener, until=lambda evs: any(
            e.subject_id == subject and e.type == "keyvault.key.released" for e in evs))
    finally:
        await opener.close()
    released = []
    for e in events:
        payload = keyvault_events.KeyReleased()
        if e.subject_id == subject and e.type == "keyvault.key.released" and e.payload.Unpack(payload):
            released.append(payload.purpose_id)
    assert released == [on_server.purpose_id]


FILING_TOPIC = "consent-filing.events"  # its own: this consent service has a database and sequence of its own


@pytest.fixture
async def small_filing_threshold(run_dir, postgres, kafka, dev_ca, vault):
    """A consent service whose filing threshold is 10 people, swept only when the test says."""
    postgres.create_database("consent_filing")
    settings = consent_settings(run_dir, dev_ca, postgres.dsn("consent_filing"), kafka, vault).model_copy(
        update={"topic": FILING_TOPIC, "filing_threshold": 10, "filing_check_interval_s": 3600})
    app = ConsentApp(settings)
    await app.start()
    await register_default_controller(dev_ca, app.port)
    yield app
    await app.stop()


@requirement("Measures Art. 15", "Filing is due at 100,000 people whose face data is stored: warned at 90 %, "
                            "announced at 100 %, once each")
async def test_measures_15_filing_threshold_crossings_are_announced_once(small_filing_threshold, kafka, dev_ca):
    app = small_filing_threshold
    clients = Clients(dev_ca, app.port, consent_pb2_grpc.ConsentServiceStub)
    admin = clients("admin")
    controller = unique("controller")
    await register_default_controller(dev_ca, app.port, controller=controller)
    stored = await registered_purpose(admin, controller_id=controller)
    on_device = await registered_purpose(admin, controller_id=controller, storage_location=cpb.STORAGE_LOCATION_DEVICE)

    async def people_consent(n: int, purpose: cpb.Purpose) -> None:
        for _ in range(n):
            await admin.GrantConsent(grant(unique("subj"), purpose.purpose_id))

    async def swept() -> tuple[list, int, int]:
        crossings = [(c.controller_id, c.state.name) for c in await app.filing.sweep()]
        status = await admin.GetFilingStatus(cpb.GetFilingStatusRequest(controller_id=controller))
        return crossings, status.subjects_with_stored_face_data, status.state

    try:
        await people_consent(8, stored)
        await people_consent(5, on_device)  # their face data stays on their devices: not counted
        below = await swept()
        await people_consent(1, stored)
        approaching = await swept()
        await people_consent(1, stored)
        required = await swept()
        await people_consent(2, stored)
        beyond = await swept()

        async with app.pool.acquire() as conn:
            announced = [r["event_type"] for r in await conn.fetch(
                "SELECT event_type FROM outbox WHERE event_type LIKE 'consent.filing.%' ORDER BY id")]
        opener = EventOpener(dev_ca, app.port)
        try:
            events = await read_events(kafka, FILING_TOPIC, opener=opener, until=lambda evs: sum(
                e.type.startswith("consent.filing.") for e in evs) >= 2)
        finally:
            await opener.close()
    finally:
        await clients.close()

    assert below == ([], 8, cpb.FILING_STATE_BELOW_THRESHOLD)
    assert approaching == ([(controller, "APPROACHING")], 9, cpb.FILING_STATE_APPROACHING)
    assert required == ([(controller, "FILING_REQUIRED")], 10, cpb.FILING_STATE_FILING_REQUIRED)
    assert beyond == ([], 12, cpb.FILING_STATE_FILING_REQUIRED)  # no announcement at every grant
    assert announced == ["consent.filing.approaching", "consent.filing.required"]
    published = []
    for e in events:
        payload = consent_events.FilingThresholdCrossed()
        if e.type.startswith("consent.filing.") and e.payload.Unpack(payload):
            published.append((e.type, payload.controller_id, payload.subjects_with_stored_face_data,
                              payload.threshold, payload.state))
    # Each announcement once; the broker keeps no order between them (the outbox above does).
    assert sorted(published) == [
        ("consent.filing.approaching", controller, 9, 10, cpb.FILING_STATE_APPROACHING),
        ("consent.filing.required", controller, 10, 10, cpb.FILING_STATE_FILING_REQUIRED),
    ]
