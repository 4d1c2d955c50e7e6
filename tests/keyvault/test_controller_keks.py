"""Each controller's subject keys are wrapped under a KEK of its own, with a Vault policy of its own:
rotating and trimming one controller's KEK leaves every other controller's KEK and keys as they were,
and a controller whose KEK was never provisioned gets a clear refusal and no key."""

import json

import hvac
import pytest

from consentry.keyvault.v1 import keyvault_admin_pb2 as admin_pb
from consentry.keyvault.v1 import keyvault_pb2 as pb
from consentry_client import error_info
from services.common.vault_admin import issue_token
from services.keyvault.domain.errors import WrappedKeyUnusable
from services.keyvault.domain.kek import kek_name
from services.keyvault.provision import POLICY_NAMES, controller_policy, ensure_kek
from services.keyvault.store.vault import TransitKek
from services.common.vault_auth import VaultSession
from tests.consent.builders import grant, registered_controller, registered_purpose
from tests.keyvault.fixtures import CONTROLLER, OTHER_CONTROLLER
from tests.keyvault.test_controllers_apart import one_person_at_both
from tests.keyvault.test_data_keys import refused
from tests.support import unique

pytestmark = pytest.mark.parametrize("backend", ["wrapped"], indirect=True, scope="session")  # the backend with KEKs

CAMPUS_KEK, BANK_KEK = (kek_name("consentry-kek", c, "") for c in (CONTROLLER, OTHER_CONTROLLER))


def _rows(postgres, database: str, tags: list[str]) -> dict[str, tuple[str, int]]:
    """(wrapped key, KEK version) per subject tag."""
    rows = postgres.execute("SELECT json_object_agg(subject_tag, json_build_array(wrapped_key, kek_version))"
                            " FROM subject_keys WHERE subject_tag = ANY($1::text[])", tags, database=database)
    return {tag: (wrapped, version) for tag, (wrapped, version) in json.loads(rows).items()}


def _kek_versions(vault, name: str) -> tuple[int, int]:
    """(latest version, lowest version Vault still holds) of a transit key."""
    data = vault.client().secrets.transit.read_key(name)["data"]
    return data["latest_version"], data["min_available_version"]


async def test_rotating_one_controllers_kek_leaves_the_others_kek_and_keys_as_they_were(
        admin, consent_admin, gate, face, bank_face, kv_admin_service, keyvault_app, postgres, keyvault_database,
        tagger, vault):
    person, campus, river = await one_person_at_both(admin, consent_admin, gate)
    at_campus = await face.Encrypt(pb.EncryptRequest(subject_id=person, purpose_id=campus, plaintext=b"campus"))
    at_bank = await bank_face.Encrypt(pb.EncryptRequest(subject_id=person, purpose_id=river, plaintext=b"bank"))
    campus_tag, bank_tag = tagger.tag(person, CONTROLLER), tagger.tag(person, OTHER_CONTROLLER)
    before = _rows(postgres, keyvault_database, [campus_tag, bank_tag])
    bank_kek_before = _kek_versions(vault, BANK_KEK)

    rotated = await kv_admin_service.RotateKek(admin_pb.RotateKekRequest(
        trim=True, idempotency_key=unique("rotate"), controller_id=CONTROLLER))
    after = _rows(postgres, keyvault_database, [campus_tag, bank_tag])
    keyvault_app.service.cache.enable()  # nothing cached: both keys unwrap in Vault again

    # The rotated controller's key moved to the new version, and older versions are gone.
    assert rotated.keys_rewrapped >= 1 and after[campus_tag][1] == rotated.kek_version > before[campus_tag][1]
    assert _kek_versions(vault, CAMPUS_KEK) == (rotated.kek_version, rotated.kek_version)
    # The other controller's: the same wrapped bytes under the same version of a KEK nobody touched.
    assert after[bank_tag] == before[bank_tag]
    assert _kek_versions(vault, BANK_KEK) == bank_kek_before
    # Both people's data still opens.
    assert (await face.Decrypt(pb.DecryptRequest(subject_id=person, purpose_id=campus,
                                                 ciphertext=at_campus.ciphertext))).plaintext == b"campus"
    assert (await bank_face.Decrypt(pb.DecryptRequest(subject_id=person, purpose_id=river,
                                                      ciphertext=at_bank.ciphertext))).plaintext == b"bank"


async def test_a_controllers_key_unwraps_under_its_own_kek_only(
        admin, consent_admin, gate, face, bank_face, postgres, keyvault_database, tagger, vault, vault_token):
    person, campus, river = await one_person_at_both(admin, consent_admin, gate)
    await face.Encrypt(pb.EncryptRequest(subject_id=person, purpose_id=campus, plaintext=b"campus"))
    await bank_face.Encrypt(pb.EncryptRequest(subject_id=person, purpose_id=river, plaintext=b"bank"))
    rows = _rows(postgres, keyvault_database, [tagger.tag(person, CONTROLLER), tagger.tag(person, OTHER_CONTROLLER)])
    campus_key, bank_key = (rows[tagger.tag(person, c)][0] for c in (CONTROLLER, OTHER_CONTROLLER))
    campus_kek, bank_kek = (TransitKek(VaultSession(vault.address, vault_token), name) for name in (CAMPUS_KEK, BANK_KEK))

    assert len(await campus_kek.unwrap(campus_key)) == len(await bank_kek.unwrap(bank_key)) == 32
    with pytest.raises(WrappedKeyUnusable):
        await campus_kek.unwrap(bank_key)
    with pytest.raises(WrappedKeyUnusable):
        await bank_kek.unwrap(campus_key)


def test_a_controllers_policy_allows_its_own_kek_and_nothing_else(vault, vault_token):
    only_campus = hvac.Client(url=vault.address, token=issue_token(
        vault.client(), controller_policy(POLICY_NAMES["wrapped"], CONTROLLER)))

    wrapped = only_campus.secrets.transit.encrypt_data(CAMPUS_KEK, plaintext="a2V5")["data"]["ciphertext"]
    assert only_campus.secrets.transit.decrypt_data(CAMPUS_KEK, wrapped)["data"]["plaintext"] == "a2V5"
    with pytest.raises(hvac.exceptions.Forbidden):
        only_campus.secrets.transit.encrypt_data(BANK_KEK, plaintext="a2V5")
    with pytest.raises(hvac.exceptions.Forbidden):
        only_campus.secrets.transit.rotate_key(BANK_KEK)
    with pytest.raises(hvac.exceptions.Forbidden):  # nor may it make a key of its own
        only_campus.secrets.transit.create_key(unique("stray-kek"))


async def test_a_controller_without_a_kek_is_refused_by_name_until_one_is_provisioned(
        admin, consent_admin, kv_admin, postgres, keyvault_database, tagger, vault):
    newcomer = (await registered_controller(consent_admin, unique("newcomer"))).controller_id
    purpose = (await registered_purpose(admin, controller_id=newcomer)).purpose_id
    person = unique("person")
    await admin.GrantConsent(grant(person, purpose))
    encrypt = pb.EncryptRequest(subject_id=person, purpose_id=purpose, plaintext=b"template", controller_id=newcomer)
    stored = "SELECT count(*) FROM subject_keys WHERE subject_tag = $1"

    error = await refused(kv_admin.Encrypt, encrypt)
    nothing_stored = postgres.execute(stored, tagger.tag(person, newcomer), database=keyvault_database)
    ensure_kek(vault.client(), "wrapped", controller_id=newcomer)  # the operator's step; no restart
    sealed = await kv_admin.Encrypt(encrypt)

    assert error.code().name == "FAILED_PRECONDITION"
    info = error_info(error)
    assert info.reason == "KEK_NOT_PROVISIONED" and info.metadata["controllerId"] == newcomer
    assert f"consentry provision kek --controller {newcomer}" in error.details()
    assert nothing_stored == 0
    assert sealed.ciphertext and postgres.execute(stored, tagger.tag(person, newcomer), database=keyvault_database) == 1


async def test_an_operator_must_name_the_controller_whose_kek_it_rotates(kv_admin_service):
    error = await refused(kv_admin_service.RotateKek, admin_pb.RotateKekRequest(trim=False,
                                                                                 idempotency_key=unique("rotate")))

    assert error.code().name == "INVALID_ARGUMENT"
    assert error_info(error).metadata["fields"] == "controller_id"
