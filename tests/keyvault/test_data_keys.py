"""Data keys are released only after a positive consent check, and only to the subject and purpose
they were made for."""

import grpc
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from consentry.keyvault.v1 import keyvault_admin_pb2 as admin_pb
from consentry.consent.v1 import consent_pb2 as cpb
from consentry.keyvault.v1 import keyvault_pb2 as pb
from tests.consent.builders import grant, registered_purpose
from tests.keyvault.fixtures import CONTROLLER
from tests.support import unique
from tests.legal import requirement


async def consented(admin, gate) -> tuple[str, str]:
    p = await registered_purpose(admin)
    subject = unique("subj")
    await gate.GrantConsent(grant(subject, p.purpose_id))
    return subject, p.purpose_id


async def refused(call, request) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await call(request)
    return error.value


async def test_template_encrypted_with_a_data_key_decrypts_with_the_unwrapped_key(admin, gate, face):
    subject, purpose = await consented(admin, gate)
    issued = await face.GenerateDataKey(pb.GenerateDataKeyRequest(subject_id=subject, purpose_id=purpose))
    template = b"\x10\x20face-template-bytes" * 20
    sealed = AESGCM(issued.plaintext_key).encrypt(b"n" * 12, template, None)

    again = await face.DecryptDataKey(pb.DecryptDataKeyRequest(subject_id=subject, purpose_id=purpose,
                                                               wrapped_key=issued.wrapped_key))

    assert len(issued.plaintext_key) == 32 and issued.wrapped_key != issued.plaintext_key
    assert AESGCM(again.plaintext_key).decrypt(b"n" * 12, sealed, None) == template


@requirement("PIPL 28, 29; Measures Art. 6; GDPR 9(2)(a)", "No key to encrypt face data is released without the purpose's consent")
async def test_no_key_without_consent(admin, face):
    p = await registered_purpose(admin)
    error = await refused(face.GenerateDataKey, pb.GenerateDataKeyRequest(subject_id=unique("subj"),
                                                                          purpose_id=p.purpose_id))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "NO_CONSENT" in error.details()


async def test_withdrawn_consent_blocks_both_generation_and_decryption(admin, gate, face):
    subject, purpose = await consented(admin, gate)
    issued = await face.GenerateDataKey(pb.GenerateDataKeyRequest(subject_id=subject, purpose_id=purpose))

    await gate.WithdrawConsent(cpb.WithdrawConsentRequest(subject_id=subject, purpose_id=purpose,
                                                          actor=cpb.Actor(kind=cpb.ACTOR_KIND_SUBJECT),
                                                          idempotency_key=unique("wd")))

    generate = await refused(face.GenerateDataKey, pb.GenerateDataKeyRequest(subject_id=subject, purpose_id=purpose))
    decrypt = await refused(face.DecryptDataKey, pb.DecryptDataKeyRequest(
        subject_id=subject, purpose_id=purpose, wrapped_key=issued.wrapped_key))
    assert generate.code() == decrypt.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "WITHDRAWN" in decrypt.details()


@requirement("Measures Art. 14; GB/T 41819", "Face data is encrypted under per-subject keys: a key opens only for its own subject and purpose")
async def test_a_wrapped_key_only_opens_for_its_own_subject_and_purpose(admin, gate, face):
    subject, purpose = await consented(admin, gate)
    other_subject = unique("subj")
    await gate.GrantConsent(grant(other_subject, purpose))
    issued = await face.GenerateDataKey(pb.GenerateDataKeyRequest(subject_id=subject, purpose_id=purpose))
    await face.GenerateDataKey(pb.GenerateDataKeyRequest(subject_id=other_subject, purpose_id=purpose))

    error = await refused(face.DecryptDataKey, pb.DecryptDataKeyRequest(
        subject_id=other_subject, purpose_id=purpose, wrapped_key=issued.wrapped_key))
    tampered = bytearray(issued.wrapped_key)
    tampered[-1] ^= 1
    altered = await refused(face.DecryptDataKey, pb.DecryptDataKeyRequest(
        subject_id=subject, purpose_id=purpose, wrapped_key=bytes(tampered)))

    assert error.code() == altered.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "wrapped_key" in error.details()


async def test_small_payloads_round_trip_through_the_service(admin, gate, face):
    subject, purpose = await consented(admin, gate)
    sealed = await face.Encrypt(pb.EncryptRequest(subject_id=subject, purpose_id=purpose, plaintext=b"liveness"))
    opened = await face.Decrypt(pb.DecryptRequest(subject_id=subject, purpose_id=purpose,
                                                  ciphertext=sealed.ciphertext))
    assert opened.plaintext == b"liveness" and b"liveness" not in sealed.ciphertext


async def test_bad_inputs_are_invalid_arguments(face):
    error = await refused(face.GenerateDataKey, pb.GenerateDataKeyRequest(subject_id="", purpose_id="p 1"))
    empty = await refused(face.DecryptDataKey, pb.DecryptDataKeyRequest(subject_id="s", purpose_id="p"))
    assert error.code() == empty.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "subject_id" in error.details() and "purpose_id" in error.details()
    assert "wrapped_key" in empty.details()


async def test_bulk_creation_makes_each_key_once_and_skips_tombstones(face, kv_admin_service):
    subjects = [unique("bulk") for _ in range(1000)]  # the documented maximum, more than one Vault batch
    await kv_admin_service.ShredSubjectKey(admin_pb.ShredSubjectKeyRequest(
        subject_id=subjects[0], controller_id=CONTROLLER, request_id=unique("dsr"), reason="erasure", idempotency_key=unique("shred")))

    first = await face.EnsureSubjectKeys(pb.EnsureSubjectKeysRequest(subject_ids=subjects))
    again = await face.EnsureSubjectKeys(pb.EnsureSubjectKeysRequest(subject_ids=subjects))

    assert [s.subject_id for s in first.statuses] == subjects
    assert [s.state for s in first.statuses] == [pb.KEY_STATE_SHREDDED] + [pb.KEY_STATE_ACTIVE] * 999
    assert [s.created_at for s in again.statuses] == [s.created_at for s in first.statuses]
