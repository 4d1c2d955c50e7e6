"""Crypto-shredding: after ShredSubjectKey nothing encrypted under the subject's key opens again,
anywhere, the key is never re-created, and a signed certificate proves it."""

import asyncio
import hashlib
import json

import grpc
import hvac
import pytest

from consentry.keyvault.v1 import keyvault_admin_pb2 as admin_pb
from consentry.keyvault.v1 import events_pb2
from consentry.keyvault.v1 import keyvault_pb2 as pb
from consentry.keyvault.v1 import keyvault_pb2_grpc
from services.common.signing import verify_signature
from services.keyvault.app import KeyVaultApp
from services.keyvault.service.backends import TransitPerSubjectBackend
from consentry_client import error_info
from tests.keyvault.fixtures import CONTROLLER, TOPICS, keyvault_settings
from tests.keyvault.test_data_keys import consented, refused
from tests.support import EventOpener, erasure_key, read_events, secure_channel, unique


def shred_request(subject: str) -> admin_pb.ShredSubjectKeyRequest:
    return admin_pb.ShredSubjectKeyRequest(subject_id=subject, controller_id=CONTROLLER, request_id=unique("dsr"),
                                           reason="erasure request", idempotency_key=unique("shred"))


async def test_template_encrypted_before_shredding_cannot_be_decrypted_after(
        admin, gate, face, kv_admin, postgres, keyvault_database, tagger, kv_admin_service):
    subject, purpose = await consented(admin, gate)
    issued = await face.GenerateDataKey(pb.GenerateDataKeyRequest(subject_id=subject, purpose_id=purpose))

    await kv_admin_service.ShredSubjectKey(shred_request(subject))

    error = await refused(face.DecryptDataKey, pb.DecryptDataKeyRequest(
        subject_id=subject, purpose_id=purpose, wrapped_key=issued.wrapped_key))
    status = await kv_admin.GetKeyStatus(pb.GetKeyStatusRequest(subject_id=subject, controller_id=CONTROLLER))
    stored = postgres.execute("SELECT wrapped_key IS NULL FROM subject_keys WHERE subject_tag = $1",
                              tagger.tag(subject, CONTROLLER), database=keyvault_database)
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION and "erased" in error.details()
    assert status.state == pb.KEY_STATE_SHREDDED and stored is True


async def test_a_shredded_key_is_never_re_created(admin, gate, face, kv_admin_service):
    subject, purpose = await consented(admin, gate)
    await face.EnsureSubjectKey(pb.EnsureSubjectKeyRequest(subject_id=subject))
    await kv_admin_service.ShredSubjectKey(shred_request(subject))

    ensure = await refused(face.EnsureSubjectKey, pb.EnsureSubjectKeyRequest(subject_id=subject))
    generate = await refused(face.GenerateDataKey, pb.GenerateDataKeyRequest(subject_id=subject, purpose_id=purpose))

    assert ensure.code() == generate.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_a_subject_without_key_shredded_in_advance_never_gets_one(admin, gate, face, kv_admin_service):
    subject, purpose = await consented(admin, gate)
    certificate = await kv_admin_service.ShredSubjectKey(shred_request(subject))

    error = await refused(face.GenerateDataKey, pb.GenerateDataKeyRequest(subject_id=subject, purpose_id=purpose))

    assert json.loads(certificate.certificate.certificate_json)["keysDestroyed"] == []
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_certificate_verifies_offline_and_tampering_is_detected(
        admin, gate, face, kv_admin, backend, tagger, kv_admin_service):
    subject, purpose = await consented(admin, gate)
    await face.GenerateDataKey(pb.GenerateDataKeyRequest(subject_id=subject, purpose_id=purpose))
    ref_before = (await kv_admin.GetSubjectRefs(pb.GetSubjectRefsRequest(subject_ids=[subject], controller_id=CONTROLLER))).refs[0]
    request = shred_request(subject)

    shredded = (await kv_admin_service.ShredSubjectKey(request)).certificate
    repeated = (await kv_admin_service.ShredSubjectKey(request)).certificate
    public = await kv_admin.GetCertificateKey(pb.GetCertificateKeyRequest())
    body = json.loads(shredded.certificate_json)

    assert verify_signature(public.public_key_pem, shredded.certificate_json, shredded.signature)
    forged = shredded.certificate_json.replace(request.request_id.encode(), b"another-request")
    assert not verify_signature(public.public_key_pem, forged, shredded.signature)
    assert repeated == shredded
    assert body["requestId"] == request.request_id and body["backend"] == backend
    assert body["subjectRef"] == ref_before.subject_ref and len(body["keysDestroyed"]) == 1
    # The subject only by the keyed tag: no id, no plain hash of it.
    assert body["type"] == "consentry.keyvault.deletion-certificate.v2" and body["subjectTag"] == tagger.tag(subject, CONTROLLER)
    assert subject.encode() not in shredded.certificate_json
    assert hashlib.sha256(subject.encode()).hexdigest()[:16].encode() not in shredded.certificate_json
    after = (await kv_admin.GetSubjectRefs(pb.GetSubjectRefsRequest(subject_ids=[subject], controller_id=CONTROLLER))).refs[0]
    assert (after.subject_ref, after.state) == ("", pb.KEY_STATE_SHREDDED)


async def test_whoever_holds_the_id_checks_with_keyvault_that_a_certificate_concerns_it(
        admin, gate, kv_admin, kv_admin_service):
    subject, other = (await consented(admin, gate))[0], (await consented(admin, gate))[0]
    certificate = (await kv_admin_service.ShredSubjectKey(shred_request(subject))).certificate
    forged = pb.DeletionCertificate(certificate_json=certificate.certificate_json.replace(b'"reason":"', b'"reason":"x'),
                                    signature=certificate.signature, key_id=certificate.key_id)

    def check(subject_id: str, c: pb.DeletionCertificate):
        return kv_admin.VerifyCertificate(pb.VerifyCertificateRequest(subject_id=subject_id, certificate=c, controller_id=CONTROLLER))
    mine, someone_else, tampered = await check(subject, certificate), await check(other, certificate), \
        await check(subject, forged)

    assert (mine.signature_valid, mine.names_subject) == (True, True)
    assert (someone_else.signature_valid, someone_else.names_subject) == (True, False)
    assert (tampered.signature_valid, tampered.names_subject) == (False, True)


async def test_events_record_releases_and_shreds_without_key_material(
        admin, gate, face, kv_admin_service, kafka, backend, keyvault_app, dev_ca):
    subject, purpose = await consented(admin, gate)
    issued = await face.GenerateDataKey(pb.GenerateDataKeyRequest(subject_id=subject, purpose_id=purpose))
    opener = EventOpener(dev_ca, keyvault_app.port)
    try:
        events = await read_events(kafka, TOPICS[backend], opener=opener, until=lambda evs: any(
            e.subject_id == subject and e.type == "keyvault.key.released" for e in evs))
        mine = [e for e in events if e.subject_id == subject]
        released = events_pb2.KeyReleased()
        assert [e.type for e in mine] == ["keyvault.key.created", "keyvault.key.released"]
        assert [e.controller_id for e in mine] == [CONTROLLER, CONTROLLER]  # whose subject, in the clear
        assert mine[1].payload.Unpack(released) and released.client_id == "face-app" and released.consent_id
        on_the_broker = {e.event_id for e in mine}

        request = shred_request(subject)
        await kv_admin_service.ShredSubjectKey(request)
        shredded = events_pb2.SubjectKeyShredded()
        events = await read_events(kafka, TOPICS[backend], opener=opener, until=lambda evs: any(
            e.type == "keyvault.key.shredded" and e.payload.Unpack(shredded) and shredded.request_id == request.request_id
            for e in evs))
    finally:
        await opener.close()
    # The person's earlier events now open to nobody, and the shredding names nobody either.
    assert all(e.subject_id == "" for e in events if e.event_id in on_the_broker)
    assert [e.controller_id for e in events if e.type == "keyvault.key.shredded" and e.payload.Unpack(shredded)
            and shredded.request_id == request.request_id] == [CONTROLLER]
    assert len([e for e in events if e.event_id in on_the_broker]) == 2
    assert all(subject.encode() not in e.SerializeToString() for e in events)
    assert all(issued.plaintext_key not in e.SerializeToString() for e in events)
    assert all(issued.wrapped_key not in e.SerializeToString() for e in events)


async def test_service_token_cannot_revive_a_shredded_key_in_vault(
        admin, gate, face, kv_admin_service, vault, vault_token, backend, tagger):
    subject, purpose = await consented(admin, gate)
    await face.GenerateDataKey(pb.GenerateDataKeyRequest(subject_id=subject, purpose_id=purpose))
    await kv_admin_service.ShredSubjectKey(shred_request(subject))
    # The name a per-subject key had (for the wrapped backend: a name the token has no rights on).
    name = TransitPerSubjectBackend.PREFIX + tagger.tag(subject, CONTROLLER)

    with pytest.raises(hvac.exceptions.VaultError):
        vault.client(vault_token).secrets.transit.encrypt_data(name, plaintext="aGVsbG8=", context="Yw==")

    with pytest.raises(hvac.exceptions.InvalidPath):
        vault.client().secrets.transit.read_key(name)  # the key does not exist: not revived


@pytest.fixture
async def replica(run_dir, postgres, kafka, vault, vault_token, dev_ca, consent_app, backend, keyvault_database):
    app = KeyVaultApp(keyvault_settings(run_dir, dev_ca, postgres.dsn(keyvault_database), kafka,
                                        consent_app.port, vault.address, vault_token, backend,
                                        erasure=erasure_key(vault, "keyvault")))
    await app.start()
    channel = secure_channel(dev_ca, app.port, "face-app")
    for _ in range(200):  # the replica caches keys once its purge channel listens
        if app.service.cache.enabled:
            break
        await asyncio.sleep(0.01)
    yield app, keyvault_pb2_grpc.KeyVaultServiceStub(channel)
    await channel.close()
    await app.stop()


async def test_shred_purges_the_cached_key_of_every_replica(
        admin, gate, face, kv_admin_service, replica, tagger):
    app, other = replica
    subject, purpose = await consented(admin, gate)
    issued = await face.GenerateDataKey(pb.GenerateDataKeyRequest(subject_id=subject, purpose_id=purpose))
    request = pb.DecryptDataKeyRequest(subject_id=subject, purpose_id=purpose, wrapped_key=issued.wrapped_key)
    await other.DecryptDataKey(request)
    assert app.service.cache.get(tagger.tag(subject, CONTROLLER)) is not None  # the replica now holds the plaintext subject key

    await kv_admin_service.ShredSubjectKey(shred_request(subject))

    for _ in range(100):
        try:
            await other.DecryptDataKey(request)
        except grpc.aio.AioRpcError as error:
            assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
            break
        await asyncio.sleep(0.01)
    else:
        pytest.fail("the replica still released a shredded key after 1 s")


async def test_an_idempotency_key_answers_its_first_shred_and_shreds_no_one_else(
        admin, gate, face, kv_admin, kv_admin_service):
    shredded, spared = (await consented(admin, gate))[0], (await consented(admin, gate))[0]
    await face.EnsureSubjectKey(pb.EnsureSubjectKeyRequest(subject_id=spared))
    first = shred_request(shredded)
    again = await kv_admin_service.ShredSubjectKey(first)
    first_answer = await kv_admin_service.ShredSubjectKey(first)  # a retry: the same certificate

    reused = await refused(kv_admin_service.ShredSubjectKey, admin_pb.ShredSubjectKeyRequest(
        subject_id=spared, controller_id=CONTROLLER, request_id=first.request_id, reason=first.reason, idempotency_key=first.idempotency_key))
    status = await kv_admin.GetKeyStatus(pb.GetKeyStatusRequest(subject_id=spared, controller_id=CONTROLLER))

    assert first_answer.certificate == again.certificate
    assert (reused.code(), error_info(reused).reason) == (grpc.StatusCode.FAILED_PRECONDITION,
                                                          "IDEMPOTENCY_KEY_REUSED")
    assert status.state == pb.KEY_STATE_ACTIVE


@pytest.mark.parametrize("backend", ["transit-per-subject"], indirect=True, scope="session")
async def test_a_reference_asked_while_vault_destroys_the_key_answers_shredded(admin, gate, face, kv_admin, vault,
                                                                               tagger, backend):
    subject, _ = await consented(admin, gate)
    await face.EnsureSubjectKey(pb.EnsureSubjectKeyRequest(subject_id=subject))
    ask = pb.GetSubjectRefsRequest(subject_ids=[subject], controller_id=CONTROLLER)
    [before] = (await kv_admin.GetSubjectRefs(ask)).refs
    # Vault's part of a shred (or an offboarding) done, the row not yet: what a reference asked in between meets.
    name = f"{TransitPerSubjectBackend.PREFIX}{tagger.tag(subject, CONTROLLER)}"
    root = hvac.Client(url=vault.address, token=vault.root_token).secrets.transit
    root.update_key_configuration(name, deletion_allowed=True)
    root.delete_key(name)

    [after] = (await kv_admin.GetSubjectRefs(ask)).refs

    assert (before.state, len(before.subject_ref)) == (pb.KEY_STATE_ACTIVE, 64)
    assert (after.state, after.subject_ref) == (pb.KEY_STATE_SHREDDED, "")
