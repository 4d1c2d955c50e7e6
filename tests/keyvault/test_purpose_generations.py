"""Data keys are bound to the consent they were issued under: once it ends (withdrawn, expired) their
key generation is destroyed, and a later consent of the same person never opens them again."""

from datetime import timedelta

import grpc

from consentry.consent.v1 import consent_admin_pb2 as consent_admin_pb
from consentry.consent.v1 import consent_pb2 as cpb
from consentry.keyvault.v1 import keyvault_pb2 as pb
from consentry_client import error_info
from services.keyvault.service.crypto import FORMAT_GENERATION
from tests.consent.builders import grant, registered_purpose, time_passes
from tests.keyvault.fixtures import CONTROLLER
from tests.keyvault.test_data_keys import consented, refused
from tests.keyvault.test_shredding import shred_request
from tests.support import unique


def generation(postgres, keyvault_database, purpose: str) -> str | None:
    """'<number> live' or '<number> retired': the purposes are unique to each test, so one row at most."""
    return postgres.execute(
        "SELECT generation || CASE WHEN secret IS NULL THEN ' retired' ELSE ' live' END FROM purpose_generations"
        " WHERE purpose_id = $1", purpose, database=keyvault_database)


async def withdraw(gate, subject: str, purpose: str) -> None:
    await gate.WithdrawConsent(cpb.WithdrawConsentRequest(subject_id=subject, purpose_id=purpose,
                                                          actor=cpb.Actor(kind=cpb.ACTOR_KIND_SUBJECT),
                                                          idempotency_key=unique("wd")))


def decrypt(subject: str, purpose: str, wrapped: bytes) -> pb.DecryptDataKeyRequest:
    return pb.DecryptDataKeyRequest(subject_id=subject, purpose_id=purpose, wrapped_key=wrapped)


def retire(subject: str, purpose: str, key: str | None = None) -> pb.RetirePurposeKeysRequest:
    return pb.RetirePurposeKeysRequest(subject_id=subject, purpose_id=purpose, idempotency_key=key or unique("rt"),
                                       controller_id=CONTROLLER)  # dsr is an operator: it names the controller


def assert_retired(error: grpc.aio.AioRpcError) -> None:
    assert (error.code(), error_info(error).reason) == (grpc.StatusCode.FAILED_PRECONDITION, "KEY_GENERATION_RETIRED")


async def test_a_key_issued_before_a_withdrawal_never_opens_after_a_new_consent(admin, gate, face, postgres,
                                                                                keyvault_database):
    subject, purpose = await consented(admin, gate)
    issued = await face.GenerateDataKey(pb.GenerateDataKeyRequest(subject_id=subject, purpose_id=purpose))
    before = await face.DecryptDataKey(decrypt(subject, purpose, issued.wrapped_key))

    # Keyvault hears nothing in between: the answer to its own consent check tells the terms apart.
    await withdraw(gate, subject, purpose)
    await gate.GrantConsent(grant(subject, purpose))
    after = await refused(face.DecryptDataKey, decrypt(subject, purpose, issued.wrapped_key))

    assert before.plaintext_key == issued.plaintext_key
    assert_retired(after)
    assert issued.wrapped_key[0] == FORMAT_GENERATION
    assert generation(postgres, keyvault_database, purpose) == "1 retired"  # destroyed, not only refused


async def test_a_data_key_issued_after_the_new_consent_opens_and_the_old_one_still_does_not(admin, gate, face, postgres,
                                                                                           keyvault_database):
    subject, purpose = await consented(admin, gate)
    old = await face.GenerateDataKey(pb.GenerateDataKeyRequest(subject_id=subject, purpose_id=purpose))
    await withdraw(gate, subject, purpose)
    await gate.GrantConsent(grant(subject, purpose))

    new = await face.GenerateDataKey(pb.GenerateDataKeyRequest(subject_id=subject, purpose_id=purpose))
    opened = await face.DecryptDataKey(decrypt(subject, purpose, new.wrapped_key))
    old_refused = await refused(face.DecryptDataKey, decrypt(subject, purpose, old.wrapped_key))

    assert opened.plaintext_key == new.plaintext_key
    assert_retired(old_refused)
    assert generation(postgres, keyvault_database, purpose) == "2 live"


async def test_the_withdrawal_request_destroys_the_generation_once_consent_confirms_the_end(
        admin, gate, face, keyvault, postgres, keyvault_database):
    dsr = keyvault("dsr")
    subject, purpose = await consented(admin, gate)
    issued = await face.GenerateDataKey(pb.GenerateDataKeyRequest(subject_id=subject, purpose_id=purpose))

    early = await dsr.RetirePurposeKeys(retire(subject, purpose))  # consent still holds: a no-op
    still = await face.DecryptDataKey(decrypt(subject, purpose, issued.wrapped_key))
    await withdraw(gate, subject, purpose)
    request = retire(subject, purpose)
    retired = await dsr.RetirePurposeKeys(request)
    repeated = await dsr.RetirePurposeKeys(request)
    destroyed = generation(postgres, keyvault_database, purpose)
    await gate.GrantConsent(grant(subject, purpose))
    after = await refused(face.DecryptDataKey, decrypt(subject, purpose, issued.wrapped_key))

    assert early.retired_generation == 0 and still.plaintext_key == issued.plaintext_key
    assert retired.retired_generation == repeated.retired_generation == 1
    assert destroyed == "1 retired"
    assert_retired(after)


async def test_a_release_refused_for_a_withdrawn_consent_destroys_the_generation(admin, gate, face, postgres,
                                                                                 keyvault_database):
    subject, purpose = await consented(admin, gate)
    issued = await face.GenerateDataKey(pb.GenerateDataKeyRequest(subject_id=subject, purpose_id=purpose))
    await withdraw(gate, subject, purpose)

    denied = await refused(face.DecryptDataKey, decrypt(subject, purpose, issued.wrapped_key))

    assert denied.code() == grpc.StatusCode.PERMISSION_DENIED and error_info(denied).reason == "CONSENT_WITHDRAWN"
    assert generation(postgres, keyvault_database, purpose) == "1 retired"


async def test_expiry_retires_the_generation_as_withdrawal_does(
        admin, gate, face, keyvault, postgres, keyvault_database, consent_admin):
    p = await registered_purpose(admin, retention=timedelta(hours=1))
    subject = unique("subj")
    await gate.GrantConsent(grant(subject, p.purpose_id))
    issued = await face.GenerateDataKey(pb.GenerateDataKeyRequest(subject_id=subject, purpose_id=p.purpose_id))

    await time_passes(postgres, subject, p.purpose_id, timedelta(hours=2))
    await consent_admin.ExpireConsents(consent_admin_pb.ExpireConsentsRequest())
    retired = await keyvault("dsr").RetirePurposeKeys(retire(subject, p.purpose_id))
    await gate.GrantConsent(grant(subject, p.purpose_id))
    after = await refused(face.DecryptDataKey, decrypt(subject, p.purpose_id, issued.wrapped_key))

    assert retired.retired_generation == 1
    assert_retired(after)


async def test_a_wrapped_key_naming_a_generation_never_issued_is_not_accepted(admin, gate, face):
    subject, purpose = await consented(admin, gate)
    issued = await face.GenerateDataKey(pb.GenerateDataKeyRequest(subject_id=subject, purpose_id=purpose))
    forged = bytes([FORMAT_GENERATION]) + (2).to_bytes(4, "big") + issued.wrapped_key[5:]

    error = await refused(face.DecryptDataKey, decrypt(subject, purpose, forged))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "wrapped_key" in error.details()


async def test_a_key_wrapped_before_generations_opens_only_while_the_consent_never_ended(admin, gate, face,
                                                                                         keyvault_app):
    subject, purpose = await consented(admin, gate)
    service = keyvault_app.service
    await face.GenerateDataKey(pb.GenerateDataKeyRequest(subject_id=subject, purpose_id=purpose))
    handle = await service._subject_key(CONTROLLER, subject, create=False)
    legacy = await service._backend.seal(handle, "data-key", subject, purpose, b"k" * 32)  # the earlier format

    before = await face.DecryptDataKey(decrypt(subject, purpose, legacy))
    await withdraw(gate, subject, purpose)
    await gate.GrantConsent(grant(subject, purpose))
    after = await refused(face.DecryptDataKey, decrypt(subject, purpose, legacy))

    assert before.plaintext_key == b"k" * 32
    assert_retired(after)


async def test_erasure_deletes_every_generation_of_the_person(
        admin, gate, face, kv_admin_service, postgres, keyvault_database):
    subject, purpose = await consented(admin, gate)
    other = (await registered_purpose(admin)).purpose_id
    await gate.GrantConsent(grant(subject, other))
    for p in (purpose, other):
        await face.GenerateDataKey(pb.GenerateDataKeyRequest(subject_id=subject, purpose_id=p))

    await kv_admin_service.ShredSubjectKey(shred_request(subject))

    assert generation(postgres, keyvault_database, purpose) is None
    assert generation(postgres, keyvault_database, other) is None
