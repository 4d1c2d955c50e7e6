"""Offboarding a controller destroys every key of its subjects at once, in Vault (its KEK; with
transit-per-subject, each subject's key), and answers with one signed certificate for the whole
controller. The same people at another controller keep their keys, and nothing is made for the
offboarded controller again."""

import json

import hvac
import pytest

from consentry.keyvault.v1 import keyvault_admin_pb2 as admin_pb
from consentry.keyvault.v1 import keyvault_pb2 as pb
from consentry_client import error_info
from services.common.signing import verify_signature
from services.keyvault.domain.kek import kek_name
from services.keyvault.provision import ensure_kek
from tests.consent.builders import grant, registered_controller, registered_purpose
from tests.keyvault.fixtures import OTHER_CONTROLLER
from tests.keyvault.test_data_keys import refused
from tests.support import unique


def offboard(controller_id: str, key: str | None = None) -> admin_pb.OffboardControllerRequest:
    return admin_pb.OffboardControllerRequest(controller_id=controller_id, reason="contract ended",
                                              idempotency_key=key or unique("offboard"))


async def leaving_controller(admin, consent_admin, vault, keyvault_app, *, kek: bool = True) -> tuple[str, str]:
    """(a controller of its own, with its KEK unless not `kek`, its purpose): offboarding it touches no
    other test's."""
    controller = (await registered_controller(consent_admin, unique("leaving"))).controller_id
    if kek and keyvault_app.settings.backend == "wrapped":
        ensure_kek(vault.client(), "wrapped", controller_id=controller)
    return controller, (await registered_purpose(admin, controller_id=controller)).purpose_id


def _keys(postgres, database: str, tags: list[str]) -> list[tuple[int, bool]]:
    """(state, holds a key) of each tag's row, in order."""
    rows = json.loads(postgres.execute(
        "SELECT json_object_agg(subject_tag, json_build_array(state, wrapped_key IS NOT NULL)) FROM subject_keys"
        " WHERE subject_tag = ANY($1::text[])", tags, database=database))
    return [tuple(rows[t]) for t in tags]


def _in_vault(vault, names: list[str]) -> list[bool]:
    found = []
    for name in names:
        try:
            vault.client().secrets.transit.read_key(name)
            found.append(True)
        except hvac.exceptions.InvalidPath:
            found.append(False)
    return found


async def test_offboarding_destroys_every_key_of_the_controller_and_no_other(
        admin, consent_admin, kv_admin, kv_admin_service, keyvault_app, postgres, keyvault_database, tagger, vault):
    backend = keyvault_app.settings.backend
    leaving, purpose = await leaving_controller(admin, consent_admin, vault, keyvault_app)
    bank_purpose = (await registered_purpose(admin, controller_id=OTHER_CONTROLLER)).purpose_id
    people = [unique("person"), unique("person")]
    sealed, at_bank = {}, {}
    for person in people:
        await admin.GrantConsent(grant(person, purpose))
        await admin.GrantConsent(grant(person, bank_purpose))
        sealed[person] = (await kv_admin.Encrypt(pb.EncryptRequest(
            subject_id=person, purpose_id=purpose, plaintext=b"template", controller_id=leaving))).ciphertext
        at_bank[person] = (await kv_admin.Encrypt(pb.EncryptRequest(
            subject_id=person, purpose_id=bank_purpose, plaintext=b"bank", controller_id=OTHER_CONTROLLER))).ciphertext
    tags = [tagger.tag(p, leaving) for p in people]
    in_vault = [kek_name("consentry-kek", leaving, "")] if backend == "wrapped" else [f"subject-{t}" for t in tags]
    before = _keys(postgres, keyvault_database, tags), _in_vault(vault, in_vault)

    answer = await kv_admin_service.OffboardController(offboard(leaving))
    again = await kv_admin_service.OffboardController(offboard(leaving))  # a new key: the same certificate
    after = _keys(postgres, keyvault_database, tags), _in_vault(vault, in_vault)
    published = postgres.execute("SELECT count(*) FROM outbox WHERE event_type = 'keyvault.controller.offboarded'"
                                 " AND controller_id = $1", leaving, database=keyvault_database)
    public = (await kv_admin.GetCertificateKey(pb.GetCertificateKeyRequest())).public_key_pem
    body = json.loads(answer.certificate.certificate_json)

    # Live keys and Vault's keys before; tombstones holding nothing, and nothing in Vault, after.
    assert before == ([(2, True), (2, True)], [True] * len(in_vault))
    assert after == ([(3, False), (3, False)], [False] * len(in_vault))
    # One certificate for the whole controller, signed, naming it and what went, and nobody.
    assert verify_signature(public, answer.certificate.certificate_json, answer.certificate.signature)
    assert again.certificate == answer.certificate and answer.subject_keys_destroyed == 2
    assert published == 1  # once, when done; not again on the repeat
    assert (body["type"], body["controllerId"], body["subjectKeysDestroyed"], body["reason"]) == (
        "consentry.keyvault.controller-offboarding-certificate.v1", leaving, 2, "contract ended")
    assert not any(p in answer.certificate.certificate_json.decode() or t in answer.certificate.certificate_json.decode()
                   for p, t in zip(people, tags, strict=True))
    # It answers for any of the controller's subjects, and for nobody at another controller.
    named = await kv_admin.VerifyCertificate(pb.VerifyCertificateRequest(
        subject_id=people[0], certificate=answer.certificate, controller_id=leaving))
    elsewhere = await kv_admin.VerifyCertificate(pb.VerifyCertificateRequest(
        subject_id=people[0], certificate=answer.certificate, controller_id=OTHER_CONTROLLER))
    assert (named.signature_valid, named.names_subject) == (True, True)
    assert (elsewhere.signature_valid, elsewhere.names_subject) == (True, False)
    # The controller's data is gone; the same people's at the other controller is not.
    gone = await refused(kv_admin.Decrypt, pb.DecryptRequest(subject_id=people[0], purpose_id=purpose,
                                                             ciphertext=sealed[people[0]], controller_id=leaving))
    assert error_info(gone).reason == "SUBJECT_ERASED"
    for person in people:
        opened = await kv_admin.Decrypt(pb.DecryptRequest(subject_id=person, purpose_id=bank_purpose,
                                                          ciphertext=at_bank[person], controller_id=OTHER_CONTROLLER))
        assert opened.plaintext == b"bank"


async def test_no_key_is_made_for_an_offboarded_controller(
        admin, consent_admin, kv_admin, kv_admin_service, keyvault_app, postgres, keyvault_database, tagger, vault):
    leaving, purpose = await leaving_controller(admin, consent_admin, vault, keyvault_app)
    newcomer = unique("person")
    await admin.GrantConsent(grant(newcomer, purpose))
    await kv_admin_service.OffboardController(offboard(leaving))

    error = await refused(kv_admin.Encrypt, pb.EncryptRequest(subject_id=newcomer, purpose_id=purpose,
                                                              plaintext=b"template", controller_id=leaving))

    assert error.code().name == "FAILED_PRECONDITION"
    assert (error_info(error).reason, error_info(error).metadata["controllerId"]) == ("CONTROLLER_OFFBOARDED", leaving)
    assert postgres.execute("SELECT count(*) FROM subject_keys WHERE subject_tag = $1", tagger.tag(newcomer, leaving),
                            database=keyvault_database) == 0


async def test_a_controller_that_never_had_a_kek_or_a_key_is_offboarded_with_nothing_to_destroy(
        admin, consent_admin, kv_admin_service, keyvault_app, vault):
    never, _ = await leaving_controller(admin, consent_admin, vault, keyvault_app, kek=False)

    answer = await kv_admin_service.OffboardController(offboard(never))

    body = json.loads(answer.certificate.certificate_json)
    assert (answer.subject_keys_destroyed, body["keysDestroyed"], body["controllerId"]) == (0, [], never)


@pytest.mark.parametrize(("change", "field"), [({"controller_id": ""}, "controller_id"),
                                                ({"reason": ""}, "reason"), ({"idempotency_key": ""}, "idempotency_key")])
async def test_an_offboarding_missing_a_field_is_refused_and_destroys_nothing(
        admin, consent_admin, kv_admin, kv_admin_service, keyvault_app, postgres, keyvault_database, tagger, vault,
        change, field):
    leaving, purpose = await leaving_controller(admin, consent_admin, vault, keyvault_app)
    person = unique("person")
    await admin.GrantConsent(grant(person, purpose))
    await kv_admin.EnsureSubjectKey(pb.EnsureSubjectKeyRequest(subject_id=person, controller_id=leaving))
    request = offboard(leaving)
    for name, value in change.items():
        setattr(request, name, value)
    recorded = "SELECT count(*) FROM controller_keks WHERE controller_id = $1 AND offboarded_at IS NOT NULL"

    error = await refused(kv_admin_service.OffboardController, request)
    untouched = (postgres.execute(recorded, leaving, database=keyvault_database),
                 _keys(postgres, keyvault_database, [tagger.tag(person, leaving)]))
    answer = await kv_admin_service.OffboardController(offboard(leaving))

    assert error.code().name == "INVALID_ARGUMENT" and error_info(error).metadata["fields"] == field
    assert untouched == (0, [(2, True)])
    assert answer.subject_keys_destroyed == 1  # the key was there for the valid request to destroy


async def test_a_controller_nobody_registered_is_not_offboarded(kv_admin_service, postgres, keyvault_database):
    typo = unique("acme-campsu")

    error = await refused(kv_admin_service.OffboardController, offboard(typo))

    assert error.code().name == "NOT_FOUND" and error_info(error).reason == "CONTROLLER_NOT_FOUND"
    assert postgres.execute("SELECT count(*) FROM controller_keks WHERE controller_id = $1", typo,
                            database=keyvault_database) == 0
