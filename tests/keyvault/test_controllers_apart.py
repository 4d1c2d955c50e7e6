"""One person at two controllers is two subjects to keyvault: two subject keys, two references, two
erasures. A client of one controller gets NOT_FOUND for the other, exactly as for an unknown one,
and an operator must say which controller it acts in."""

import json

import grpc

from consentry.keyvault.v1 import keyvault_admin_pb2 as admin_pb
from consentry.keyvault.v1 import keyvault_pb2 as pb
from consentry_client import error_info
from tests.consent.builders import grant, registered_controller, registered_purpose
from tests.keyvault.fixtures import CONTROLLER, OTHER_CONTROLLER
from tests.keyvault.test_data_keys import refused
from tests.support import unique

SERVICE = pb.DESCRIPTOR.services_by_name["KeyVaultService"]


async def one_person_at_both(admin, consent_admin, gate) -> tuple[str, str, str]:
    """(person, purpose of CONTROLLER, purpose of OTHER_CONTROLLER), consented at each."""
    await registered_controller(consent_admin, OTHER_CONTROLLER)
    campus = await registered_purpose(admin)
    bank_purpose = await registered_purpose(admin, controller_id=OTHER_CONTROLLER)
    person = unique("person")
    await gate.GrantConsent(grant(person, campus.purpose_id))  # a client of CONTROLLER
    await admin.GrantConsent(grant(person, bank_purpose.purpose_id))  # an operator, for the bank's purpose
    return person, campus.purpose_id, bank_purpose.purpose_id


def status(person: str, controller: str) -> pb.GetKeyStatusRequest:
    return pb.GetKeyStatusRequest(subject_id=person, controller_id=controller)


def shred(person: str, controller: str) -> admin_pb.ShredSubjectKeyRequest:
    return admin_pb.ShredSubjectKeyRequest(subject_id=person, controller_id=controller, request_id=unique("dsr"),
                                           reason="erasure request", idempotency_key=unique("shred"))


async def test_one_person_at_two_controllers_has_two_keys(
        admin, consent_admin, gate, face, bank_face, kv_admin, postgres, keyvault_database, tagger):
    person, campus, river = await one_person_at_both(admin, consent_admin, gate)
    at_campus = await face.Encrypt(pb.EncryptRequest(subject_id=person, purpose_id=campus, plaintext=b"campus"))
    at_bank = await bank_face.Encrypt(pb.EncryptRequest(subject_id=person, purpose_id=river, plaintext=b"bank"))
    refs = {c: (await kv_admin.GetSubjectRefs(pb.GetSubjectRefsRequest(subject_ids=[person], controller_id=c))).refs[0]
            for c in (CONTROLLER, OTHER_CONTROLLER)}
    rows = postgres.execute(
        "SELECT array_agg(subject_tag || ' ' || controller_id || ' ' || wrapped_key ORDER BY controller_id)"
        " FROM subject_keys WHERE subject_tag = ANY($1::text[])",
        [tagger.tag(person, CONTROLLER), tagger.tag(person, OTHER_CONTROLLER)], database=keyvault_database)

    # Each controller's client opens its own data.
    assert (await face.Decrypt(pb.DecryptRequest(subject_id=person, purpose_id=campus,
                                                 ciphertext=at_campus.ciphertext))).plaintext == b"campus"
    assert (await bank_face.Decrypt(pb.DecryptRequest(subject_id=person, purpose_id=river,
                                                 ciphertext=at_bank.ciphertext))).plaintext == b"bank"
    # Two rows, each under its controller's tag, with keys of their own (transit: two Vault keys).
    [campus_row, bank_row] = [r.split(" ") for r in rows]
    assert (campus_row[:2], bank_row[:2]) == ([tagger.tag(person, CONTROLLER), CONTROLLER],
                                              [tagger.tag(person, OTHER_CONTROLLER), OTHER_CONTROLLER])
    assert campus_row[2] != bank_row[2]
    # The audit log's references come from each key: unrelated at the two controllers.
    assert {r.state for r in refs.values()} == {pb.KEY_STATE_ACTIVE}
    assert refs[CONTROLLER].subject_ref and refs[OTHER_CONTROLLER].subject_ref
    assert refs[CONTROLLER].subject_ref != refs[OTHER_CONTROLLER].subject_ref


async def test_data_sealed_at_one_controller_does_not_open_at_the_other(admin, consent_admin, gate, face, bank_face):
    person, campus, river = await one_person_at_both(admin, consent_admin, gate)
    sealed = await face.Encrypt(pb.EncryptRequest(subject_id=person, purpose_id=campus, plaintext=b"template"))
    issued = await face.GenerateDataKey(pb.GenerateDataKeyRequest(subject_id=person, purpose_id=campus))
    await bank_face.EnsureSubjectKey(pb.EnsureSubjectKeyRequest(subject_id=person))  # the bank_face has a key for them too
    # What a ciphertext made under another key gives: another person's at the same controller.
    stranger = unique("person")
    await gate.GrantConsent(grant(stranger, campus))
    await face.EnsureSubjectKey(pb.EnsureSubjectKeyRequest(subject_id=stranger))
    unknown = await refused(face.Decrypt, pb.DecryptRequest(subject_id=stranger, purpose_id=campus,
                                                            ciphertext=sealed.ciphertext))

    opened = await refused(bank_face.Decrypt, pb.DecryptRequest(subject_id=person, purpose_id=campus,
                                                           ciphertext=sealed.ciphertext))
    unwrapped = await refused(bank_face.DecryptDataKey, pb.DecryptDataKeyRequest(subject_id=person, purpose_id=campus,
                                                                            wrapped_key=issued.wrapped_key))

    assert unknown.code() == grpc.StatusCode.INVALID_ARGUMENT and "ciphertext" in unknown.details()
    # Until consent refuses another controller's purpose, the bank's own key is what refuses: like an
    # unknown key. Once it does, the consent gate refuses first, as for any purpose of no controller's.
    for error, field in ((opened, "ciphertext"), (unwrapped, "wrapped_key")):
        if error.code() == grpc.StatusCode.INVALID_ARGUMENT:
            assert error.details() == unknown.details().replace("ciphertext", field)
        else:
            assert (error.code(), error_info(error).reason) == (grpc.StatusCode.PERMISSION_DENIED, "PURPOSE_UNKNOWN")


async def test_shredding_at_one_controller_leaves_the_other_readable(
        admin, consent_admin, gate, face, bank_face, kv_admin, kv_admin_service):
    person, campus, river = await one_person_at_both(admin, consent_admin, gate)
    at_campus = pb.DecryptRequest(subject_id=person, purpose_id=campus, ciphertext=(await face.Encrypt(
        pb.EncryptRequest(subject_id=person, purpose_id=campus, plaintext=b"campus"))).ciphertext)
    issued = await bank_face.GenerateDataKey(pb.GenerateDataKeyRequest(subject_id=person, purpose_id=river))
    at_bank = pb.DecryptRequest(subject_id=person, purpose_id=river, ciphertext=(await bank_face.Encrypt(
        pb.EncryptRequest(subject_id=person, purpose_id=river, plaintext=b"bank"))).ciphertext)
    assert (await face.Decrypt(at_campus)).plaintext == b"campus"  # present at both before
    assert (await kv_admin.GetKeyStatus(status(person, OTHER_CONTROLLER))).state == pb.KEY_STATE_ACTIVE

    certificate = (await kv_admin_service.ShredSubjectKey(shred(person, CONTROLLER))).certificate

    erased = await refused(face.Decrypt, at_campus)
    assert erased.code() == grpc.StatusCode.FAILED_PRECONDITION and "erased" in erased.details()
    assert (await kv_admin.GetKeyStatus(status(person, CONTROLLER))).state == pb.KEY_STATE_SHREDDED
    assert (await kv_admin.GetKeyStatus(status(person, OTHER_CONTROLLER))).state == pb.KEY_STATE_ACTIVE
    assert (await bank_face.Decrypt(at_bank)).plaintext == b"bank"
    assert (await bank_face.DecryptDataKey(pb.DecryptDataKeyRequest(
        subject_id=person, purpose_id=river, wrapped_key=issued.wrapped_key))).plaintext_key == issued.plaintext_key
    assert (await bank_face.GenerateDataKey(pb.GenerateDataKeyRequest(subject_id=person, purpose_id=river))).plaintext_key
    # The certificate names the controller, under the signature, and concerns the person there only.
    assert json.loads(certificate.certificate_json)["controllerId"] == CONTROLLER
    verified = {c: await kv_admin.VerifyCertificate(pb.VerifyCertificateRequest(
        subject_id=person, controller_id=c, certificate=certificate)) for c in (CONTROLLER, OTHER_CONTROLLER)}
    assert (verified[CONTROLLER].signature_valid, verified[CONTROLLER].names_subject) == (True, True)
    assert (verified[OTHER_CONTROLLER].signature_valid, verified[OTHER_CONTROLLER].names_subject) == (True, False)
    claimed = pb.DeletionCertificate(certificate_json=certificate.certificate_json.replace(
        f'"controllerId":"{CONTROLLER}"'.encode(), f'"controllerId":"{OTHER_CONTROLLER}"'.encode()),
        signature=certificate.signature, key_id=certificate.key_id)
    relabelled = await kv_admin.VerifyCertificate(pb.VerifyCertificateRequest(
        subject_id=person, controller_id=OTHER_CONTROLLER, certificate=claimed))
    assert (relabelled.signature_valid, relabelled.names_subject) == (False, False)


def _request_naming(method, controller: str):
    """A request of `method` naming `controller` and otherwise well formed, as a client would send it."""
    request = getattr(pb, method.input_type.name)()
    for field in method.input_type.fields:
        if field.name == "controller_id":
            request.controller_id = controller
        elif field.name in ("subject_id", "purpose_id", "idempotency_key"):
            setattr(request, field.name, unique(field.name.split("_")[0]))
        elif field.name == "subject_ids":
            request.subject_ids.append(unique("subject"))
        elif field.name in ("wrapped_key", "ciphertext", "plaintext"):
            setattr(request, field.name, b"\x02" + bytes(60))
        elif field.name == "certificate":
            request.certificate.certificate_json = b"{}"
    return request


async def test_every_call_naming_another_controller_is_answered_as_for_an_unknown_one(
        admin, consent_admin, gate, bank_face, kv_admin):
    person, campus, river = await one_person_at_both(admin, consent_admin, gate)
    await bank_face.EnsureSubjectKey(pb.EnsureSubjectKeyRequest(subject_id=person))
    assert (await bank_face.GetKeyStatus(pb.GetKeyStatusRequest(subject_id=person))).state == pb.KEY_STATE_ACTIVE
    about_subjects = [m for m in SERVICE.methods if "controller_id" in m.input_type.fields_by_name]
    # Every RPC but the public key's is about a subject: a new one cannot leave the controller out.
    assert {m.name for m in SERVICE.methods} - {m.name for m in about_subjects} == {"GetCertificateKey"}

    for method in about_subjects:
        call = getattr(bank_face, method.name)
        if method.server_streaming:  # refused at its first read
            call = (lambda stream: lambda request: stream(request).read())(call)
        other = await refused(call, _request_naming(method, CONTROLLER))
        unknown = await refused(call, _request_naming(method, "no-such-controller"))
        assert (other.code(), error_info(other).reason) == (grpc.StatusCode.NOT_FOUND, "CONTROLLER_NOT_FOUND"), \
            method.name
        assert (unknown.code(), error_info(unknown).reason) == (other.code(), error_info(other).reason)
        assert other.details() == unknown.details().replace("no-such-controller", CONTROLLER)

    # Naming its own controller is the same as naming none. (Whether the campus has a key for the person
    # is audit's doing: it makes one for the reference of their consent there.)
    own = await bank_face.GetKeyStatus(pb.GetKeyStatusRequest(subject_id=person, controller_id=OTHER_CONTROLLER))
    assert own.state == pb.KEY_STATE_ACTIVE


async def test_a_controllers_back_office_granted_the_admin_service_shreds_nothing_and_rotates_no_kek(
        face, keyvault_admin, kv_admin):
    """Shredding and rotation reach past one subject's controller (and past dsr's tracked deletion):
    operators only, whatever a careless policy grants a controller's client."""
    office = keyvault_admin("bank-office")
    person = unique("person")
    await face.EnsureSubjectKey(pb.EnsureSubjectKeyRequest(subject_id=person))
    await kv_admin.EnsureSubjectKey(pb.EnsureSubjectKeyRequest(subject_id=person, controller_id=OTHER_CONTROLLER))

    refusals = [await refused(office.ShredSubjectKey, shred(person, named)) for named in ("", CONTROLLER)]
    refusals.append(await refused(office.RotateKek, admin_pb.RotateKekRequest(trim=True, idempotency_key=unique("rotate"))))

    assert {(r.code(), error_info(r).reason) for r in refusals} == {(grpc.StatusCode.PERMISSION_DENIED, "OPERATOR_ONLY")}
    for controller in (CONTROLLER, OTHER_CONTROLLER):
        assert (await kv_admin.GetKeyStatus(status(person, controller))).state == pb.KEY_STATE_ACTIVE


async def test_an_operator_must_name_the_controller_and_nothing_is_made_without(
        kv_admin, kv_admin_service, postgres, keyvault_database, tagger):
    person = unique("person")
    tags = [tagger.tag(person), tagger.tag(person, CONTROLLER), tagger.tag(person, OTHER_CONTROLLER)]

    def rows() -> int:
        return postgres.execute("SELECT count(*) FROM subject_keys WHERE subject_tag = ANY($1::text[])", tags,
                                database=keyvault_database)

    errors = [await refused(kv_admin.EnsureSubjectKey, pb.EnsureSubjectKeyRequest(subject_id=person)),
              await refused(kv_admin.EnsureSubjectKeys, pb.EnsureSubjectKeysRequest(subject_ids=[person])),
              await refused(kv_admin.GetSubjectRefs, pb.GetSubjectRefsRequest(subject_ids=[person],
                                                                              create_missing=True)),
              await refused(kv_admin.GetKeyStatus, pb.GetKeyStatusRequest(subject_id=person)),
              await refused(kv_admin_service.ShredSubjectKey, shred(person, ""))]

    for error in errors:
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error_info(error).metadata["fields"] == "controller_id"
    assert rows() == 0
    for controller in (CONTROLLER, OTHER_CONTROLLER):
        assert (await kv_admin.GetKeyStatus(status(person, controller))).state == pb.KEY_STATE_ABSENT
    # The same call naming a controller makes the key: the count above would have seen it.
    await kv_admin.EnsureSubjectKey(pb.EnsureSubjectKeyRequest(subject_id=person, controller_id=CONTROLLER))
    assert rows() == 1


async def test_a_client_of_one_controller_gets_no_key_under_another_controllers_purpose(
        admin, consent_admin, gate, face, bank_face):
    person, campus, river = await one_person_at_both(admin, consent_admin, gate)
    assert (await bank_face.GenerateDataKey(pb.GenerateDataKeyRequest(subject_id=person, purpose_id=river))).wrapped_key
    unknown = await refused(face.GenerateDataKey, pb.GenerateDataKeyRequest(subject_id=person,
                                                                            purpose_id=unique("no-purpose")))

    crossed = await refused(face.GenerateDataKey, pb.GenerateDataKeyRequest(subject_id=person, purpose_id=river))
    encrypted = await refused(face.Encrypt, pb.EncryptRequest(subject_id=person, purpose_id=river, plaintext=b"x"))

    for error in (crossed, encrypted):
        assert (error.code(), error_info(error).reason, error.details()) == (
            unknown.code(), error_info(unknown).reason, unknown.details())
