"""Templates sealed with the subject's data key open only while consent holds, the key exists and the
blob is intact."""

import pytest

from consentry.keyvault.v1 import keyvault_admin_pb2 as kv_admin_pb
from consentry.consent.v1 import consent_pb2 as cpb
from consentry_client import ConsentRefused, CorruptTemplate, SubjectErased, TemplateCipher, TemplateRetired
from consentry_client.cipher import NONCE_SIZE
from tests.consent.builders import CONTROLLER, grant
from tests.keyvault.test_data_keys import consented
from tests.support import unique

pytestmark = pytest.mark.parametrize("backend", ["wrapped"], indirect=True, scope="session")

TEMPLATE = b"\x01\x7f face-embedding " * 32


@pytest.fixture
def cipher(keyvault_channel) -> TemplateCipher:
    return TemplateCipher(keyvault_channel)


async def test_a_sealed_template_opens_to_the_same_bytes(admin, gate, cipher):
    subject, purpose = await consented(admin, gate)
    blob = await cipher.seal(subject, purpose, TEMPLATE)
    again = await cipher.seal(subject, purpose, TEMPLATE)

    assert await cipher.open(subject, purpose, blob) == TEMPLATE
    assert TEMPLATE[:16] not in blob and blob != again


async def test_a_template_cannot_be_opened_as_another_subject(admin, gate, cipher):
    subject, purpose = await consented(admin, gate)
    enrolled, never_enrolled = unique("subj"), unique("subj")
    for other in (enrolled, never_enrolled):
        await gate.GrantConsent(grant(other, purpose))
    blob = await cipher.seal(subject, purpose, TEMPLATE)
    await cipher.seal(enrolled, purpose, TEMPLATE)

    for other in (enrolled, never_enrolled):
        with pytest.raises(CorruptTemplate):
            await cipher.open(other, purpose, blob)


async def test_opening_after_the_subject_key_was_shredded_reports_erasure(
        admin, gate, cipher, kv_admin_service):
    subject, purpose = await consented(admin, gate)
    blob = await cipher.seal(subject, purpose, TEMPLATE)
    await kv_admin_service.ShredSubjectKey(kv_admin_pb.ShredSubjectKeyRequest(
        subject_id=subject, request_id=unique("dsr"), reason="erasure", idempotency_key=unique("shred"),
        controller_id=CONTROLLER))  # the operator names the subject's controller

    with pytest.raises(SubjectErased):
        await cipher.open(subject, purpose, blob)


def flip(position: int):
    def tamper(blob: bytes) -> bytes:
        altered = bytearray(blob)
        altered[position] ^= 0x01
        return bytes(altered)
    return tamper


TAMPERINGS = {
    "empty": lambda blob: b"",
    "unknown version": flip(0),
    "key length beyond the blob": lambda blob: blob[:1] + b"\xff\xff" + blob[3:],
    "generation the key names altered": flip(6),
    "wrapped key altered": flip(12),
    "nonce altered": lambda blob: flip(len(blob) - len(TEMPLATE) - 16 - NONCE_SIZE)(blob),
    "ciphertext altered": flip(-1),
    "truncated": lambda blob: blob[:-20],
}


@pytest.mark.parametrize("tamper", TAMPERINGS.values(), ids=TAMPERINGS.keys())
async def test_a_tampered_blob_is_reported_corrupt(admin, gate, cipher, tamper):
    subject, purpose = await consented(admin, gate)
    blob = await cipher.seal(subject, purpose, TEMPLATE)

    with pytest.raises(CorruptTemplate):
        await cipher.open(subject, purpose, tamper(blob))


async def test_withdrawn_consent_refuses_sealing(admin, gate, cipher):
    subject, purpose = await consented(admin, gate)
    await gate.WithdrawConsent(cpb.WithdrawConsentRequest(subject_id=subject, purpose_id=purpose,
                                                          actor=cpb.Actor(kind=cpb.ACTOR_KIND_SUBJECT),
                                                          idempotency_key=unique("wd")))

    with pytest.raises(ConsentRefused) as refused:
        await cipher.seal(subject, purpose, TEMPLATE)
    assert refused.value.reason == "WITHDRAWN"



async def test_a_template_sealed_before_a_withdrawal_is_retired_for_good_and_a_new_one_opens(admin, gate, cipher):
    subject, purpose = await consented(admin, gate)
    blob = await cipher.seal(subject, purpose, TEMPLATE)
    opened_before = await cipher.open(subject, purpose, blob)
    await gate.WithdrawConsent(cpb.WithdrawConsentRequest(subject_id=subject, purpose_id=purpose,
                                                          actor=cpb.Actor(kind=cpb.ACTOR_KIND_SUBJECT),
                                                          idempotency_key=unique("wd")))
    await gate.GrantConsent(grant(subject, purpose))

    with pytest.raises(TemplateRetired):
        await cipher.open(subject, purpose, blob)
    enrolled_again = await cipher.seal(subject, purpose, TEMPLATE)

    assert opened_before == TEMPLATE
    assert await cipher.open(subject, purpose, enrolled_again) == TEMPLATE
