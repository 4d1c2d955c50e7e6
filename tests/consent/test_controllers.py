"""Controllers: operators register them; every purpose belongs to a registered one; a client of one
controller neither sees another nor registers purposes for it; receipts name the controller with its
address and contact point."""

import json
from contextlib import asynccontextmanager

import asyncpg
import grpc
import pytest

from consentry.consent.v1 import consent_admin_pb2 as admin_pb
from consentry.consent.v1 import consent_pb2 as pb
from consentry_client import error_info
from services.common.db import apply_migrations, migrations_in
from services.common.grpc_errors import field_violations
from services.consent.domain.receipt import read_receipt
from tests.consent.builders import (
    CONTROLLER, controller, grant, purpose, registered_controller, registered_purpose,
)
from tests.support import unique

PACKAGE = "services.consent.store"


async def refused(call, request) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await call(request, timeout=5)
    return error.value


def register(c: pb.Controller, key: str | None = None) -> admin_pb.RegisterControllerRequest:
    return admin_pb.RegisterControllerRequest(controller=c, idempotency_key=key or unique("ctl"))


async def test_registering_a_controller_is_idempotent(consent_admin, admin):
    c = controller(legal_name="Shenzhen Gate Co., Ltd.", contact="+86 755 1234 5678")
    c.created_at.seconds = 1  # the service's to set: ignored
    key = unique("ctl")
    first = (await consent_admin.RegisterController(register(c, key))).controller
    retried = (await consent_admin.RegisterController(register(c, key))).controller
    again = (await consent_admin.RegisterController(register(c))).controller  # same controller, new key

    assert first == retried == again
    assert (first.legal_name, first.contact, first.jurisdiction) == ("Shenzhen Gate Co., Ltd.", "+86 755 1234 5678",
                                                                     "CN")
    assert first.HasField("created_at")
    assert (await admin.GetController(pb.GetControllerRequest(controller_id=c.controller_id))).controller == first


async def test_other_details_under_a_registered_id_are_a_conflict_and_change_nothing(consent_admin, admin):
    c = await registered_controller(consent_admin)
    error = await refused(consent_admin.RegisterController, register(controller(c.controller_id, address="Elsewhere 1")))

    assert (error.code(), error_info(error).reason) == (grpc.StatusCode.ALREADY_EXISTS, "CONTROLLER_EXISTS")
    assert (await admin.GetController(pb.GetControllerRequest(controller_id=c.controller_id))).controller == c


async def test_a_controller_is_validated_field_by_field_and_nothing_is_registered(consent_admin, admin):
    bad = pb.Controller(controller_id="no spaces", legal_name=" ", address="x" * 501, contact="not-a-contact",
                        jurisdiction="China")
    error = await refused(consent_admin.RegisterController, register(bad))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert sorted(field_violations(error)) == [
        ("controller.address", "string.max_len"), ("controller.contact", "string.pattern"),
        ("controller.controller_id", "string.pattern"), ("controller.jurisdiction", "string.pattern"), ("controller.legal_name", "required")]
    missing = await refused(consent_admin.RegisterController, admin_pb.RegisterControllerRequest())
    assert {field for field, _ in field_violations(missing)} == {
        "controller.controller_id", "controller.legal_name", "controller.address", "controller.contact",
        "controller.jurisdiction", "idempotency_key"}
    unknown = await refused(admin.GetController, pb.GetControllerRequest(controller_id="no spaces"))
    assert unknown.code() == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize("contact", ["dpo@campus.example", "+86 10 8888 0000", "(312) 555-0100"])
async def test_a_contact_point_is_an_email_address_or_a_telephone_number(consent_admin, contact):
    assert (await registered_controller(consent_admin, contact=contact)).contact == contact


async def test_only_an_operator_registers_controllers(connect_admin, admin):
    office = connect_admin("campus-office")  # the admin service granted by name, yet acting for a controller
    c = controller()
    error = await refused(office.RegisterController, register(c))

    assert (error.code(), error_info(error).reason) == (grpc.StatusCode.PERMISSION_DENIED, "OPERATOR_ONLY")
    assert (await refused(admin.GetController, pb.GetControllerRequest(controller_id=c.controller_id))).code() == \
        grpc.StatusCode.NOT_FOUND


def _shape(error: grpc.aio.AioRpcError, controller_id: str) -> tuple:
    info = error_info(error)
    return error.code(), error.details().replace(controller_id, "<id>"), info.reason, info.domain, dict(info.metadata)


async def test_another_controllers_controller_is_not_found_exactly_as_one_never_registered(consent_admin, gate):
    own = (await gate.GetController(pb.GetControllerRequest(controller_id=CONTROLLER))).controller
    other = await registered_controller(consent_admin)
    never = unique("never-registered")

    hidden = await refused(gate.GetController, pb.GetControllerRequest(controller_id=other.controller_id))
    absent = await refused(gate.GetController, pb.GetControllerRequest(controller_id=never))

    assert own.controller_id == CONTROLLER
    assert _shape(hidden, other.controller_id) == _shape(absent, never)
    assert _shape(hidden, other.controller_id)[:3] == (grpc.StatusCode.NOT_FOUND, "controller '<id>' does not exist",
                                                       "CONTROLLER_NOT_FOUND")


async def test_an_operator_reads_every_controller(consent_admin, admin):
    other = await registered_controller(consent_admin)
    assert (await admin.GetController(pb.GetControllerRequest(controller_id=other.controller_id))).controller == other
    assert (await admin.GetController(pb.GetControllerRequest(controller_id=CONTROLLER))).controller.controller_id \
        == CONTROLLER


async def test_a_client_registers_purposes_for_its_own_controller_only(connect, consent_admin, admin):
    app = connect("everything-app")  # acts for CONTROLLER
    other = await registered_controller(consent_admin)
    foreign = purpose(controller_id=other.controller_id)
    never = unique("never-registered")

    hidden = await refused(app.RegisterPurpose, pb.RegisterPurposeRequest(purpose=foreign,
                                                                          idempotency_key=unique("reg")))
    absent = await refused(app.RegisterPurpose, pb.RegisterPurposeRequest(
        purpose=purpose(controller_id=never), idempotency_key=unique("reg")))

    assert _shape(hidden, other.controller_id) == _shape(absent, never)
    assert (hidden.code(), error_info(hidden).reason) == (grpc.StatusCode.NOT_FOUND, "CONTROLLER_NOT_FOUND")
    gone = await refused(admin.GetPurpose, pb.GetPurposeRequest(purpose_id=foreign.purpose_id))
    assert gone.code() == grpc.StatusCode.NOT_FOUND
    listed = await admin.ListPurposes(pb.ListPurposesRequest(controller_id=other.controller_id))
    assert not listed.purposes

    # Its own, named or left empty.
    named = (await app.RegisterPurpose(pb.RegisterPurposeRequest(
        purpose=purpose(), idempotency_key=unique("reg")))).purpose
    implied = (await app.RegisterPurpose(pb.RegisterPurposeRequest(
        purpose=purpose(controller_id=""), idempotency_key=unique("reg")))).purpose
    assert named.controller_id == implied.controller_id == CONTROLLER


async def test_an_operator_names_any_registered_controller_and_no_other(consent_admin, admin):
    other = await registered_controller(consent_admin)
    assert (await registered_purpose(admin, controller_id=other.controller_id)).controller_id == other.controller_id

    unregistered = purpose(controller_id=unique("unregistered"))
    error = await refused(admin.RegisterPurpose, pb.RegisterPurposeRequest(purpose=unregistered,
                                                                           idempotency_key=unique("reg")))
    assert (error.code(), error_info(error).reason) == (grpc.StatusCode.FAILED_PRECONDITION,
                                                        "CONTROLLER_NOT_REGISTERED")
    assert error_info(error).metadata["controller_id"] == unregistered.controller_id
    assert (await refused(admin.GetPurpose, pb.GetPurposeRequest(purpose_id=unregistered.purpose_id))).code() == \
        grpc.StatusCode.NOT_FOUND
    # An operator has no controller of its own to imply.
    empty = await refused(admin.RegisterPurpose, pb.RegisterPurposeRequest(
        purpose=purpose(controller_id=""), idempotency_key=unique("reg")))
    assert field_violations(empty) == [("purpose.controller_id", "required")]


async def test_a_receipt_names_the_controller_with_its_registered_details(consent_admin, admin):
    c = await registered_controller(consent_admin, legal_name="Lotus Residential Property Management Ltd.",
                                    address="12 Lotus Road, Nanshan District, Shenzhen",
                                    contact="privacy@lotus-homes.example")
    p = await registered_purpose(admin, controller_id=c.controller_id)
    granted = await admin.GrantConsent(grant(unique("subj"), p.purpose_id))

    receipt = json.loads(granted.receipt.receipt_json)
    assert receipt["piiControllers"] == [{
        "piiController": c.legal_name, "piiControllerId": c.controller_id, "address": c.address,
        "contact": c.contact, "email": c.contact}]
    for language in ("en", "zh-CN"):
        page = (await admin.RenderReceipt(pb.RenderReceiptRequest(
            receipt_json=granted.receipt.receipt_json, signature=granted.receipt.signature,
            key_id=granted.receipt.key_id, language=language))).html
        assert c.legal_name in page and c.address in page and c.contact in page


async def test_a_telephone_contact_point_is_the_receipts_phone(consent_admin, admin):
    c = await registered_controller(consent_admin, contact="+1 312 555 0100", jurisdiction="US-IL")
    p = await registered_purpose(admin, controller_id=c.controller_id)
    granted = await admin.GrantConsent(grant(unique("subj"), p.purpose_id))
    entry = json.loads(granted.receipt.receipt_json)["piiControllers"][0]
    assert (entry["phone"], "email" in entry) == ("+1 312 555 0100", False)


def test_a_receipt_signed_before_controllers_were_registered_still_reads():
    old = {"piiControllers": [{"piiController": "acme-campus"}]}
    content = read_receipt(json.dumps({**_receipt_document(), **old}).encode())
    (only,) = content.controllers
    assert (only.name, only.controller_id, only.address, only.contact) == ("acme-campus", "acme-campus", "", "")


def _receipt_document() -> dict:
    return {
        "version": "KI-CR-v1.1.0", "consentReceiptID": "r-1", "consentId": "c-1", "jurisdiction": "CN",
        "eventTime": "2026-01-01T00:00:00Z", "collectionMethod": "app_screen", "language": "en",
        "piiPrincipalId": "s-1", "notice": {"purposeId": "p-1", "version": 1, "language": "en", "sha256": "0" * 64},
        "services": [{"service": "Gate", "purposes": [{
            "purpose": "p-1", "legalBasis": "separate_consent", "piiCategory": ["face_template"],
            "storageLocation": "server", "thirdPartyName": []}]}],
        "withdrawalMethod": "", "nonFaceAlternative": "Badge", "alternativeOffered": True,
        "actor": {"kind": "subject", "guardianId": ""}, "validity": {"until": "2027-01-01T00:00:00Z"},
    }


EVERY = migrations_in("services.common") + migrations_in(PACKAGE)


@asynccontextmanager
async def migrated_before(postgres, number: str):
    """A new database with every migration but the consent store's from `number` on; its pool."""
    name = unique("consent_old").replace("-", "_")
    postgres.create_database(name)
    pool = await asyncpg.create_pool(postgres.dsn(name), min_size=1, max_size=2)
    try:
        await apply_migrations(pool, [m for m in EVERY
                                      if not (m[0].startswith(PACKAGE) and m[0] >= f"{PACKAGE}:{number}")])
        yield pool
    finally:
        await pool.close()


async def test_the_migration_registers_the_controllers_existing_purposes_name(postgres):
    async with migrated_before(postgres, "0007") as pool:
        await pool.execute(
            "INSERT INTO purposes (purpose_id, controller_id, name, data_categories, storage_location, retention,"
            " legal_basis, non_face_alternative, minimum_age, pia_reference)"
            " SELECT 'p-' || n, c, 'Gate', '{1}', 2, '365 days', 1, 'Badge', 0, 'PIA-1'"
            " FROM unnest(ARRAY['campus-a', 'campus-a', 'campus-b']) WITH ORDINALITY AS t(c, n)")

        applied = await apply_migrations(pool, EVERY)
        rows = await pool.fetch("SELECT controller_id, legal_name, address, contact, jurisdiction FROM controllers"
                                " ORDER BY controller_id")

    assert applied[0] == f"{PACKAGE}:0007_controllers.sql"
    assert [tuple(r.values()) for r in rows] == [("campus-a", "campus-a", "", "", ""),
                                                 ("campus-b", "campus-b", "", "", "")]


async def test_a_controller_known_only_from_its_purposes_gets_its_details_once(consent_admin, admin, postgres):
    controller_id = unique("campus-migrated")
    conn = await asyncpg.connect(postgres.dsn("consent"))
    try:  # as the migration leaves it
        await conn.execute("INSERT INTO controllers (controller_id, legal_name) VALUES ($1, $1)", controller_id)
    finally:
        await conn.close()

    completed = await registered_controller(consent_admin, controller_id, legal_name="Campus Migrated Ltd.")
    error = await refused(consent_admin.RegisterController, register(controller(controller_id, legal_name="Other")))

    assert completed.legal_name == "Campus Migrated Ltd." and completed.address
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    assert (await admin.GetController(pb.GetControllerRequest(controller_id=controller_id))).controller == completed


async def test_the_migration_keys_purposes_notices_and_consents_by_controller_keeping_every_row(postgres):
    async with migrated_before(postgres, "0008") as pool:
        await pool.execute(_PURPOSE.format(purpose="gate", controller="campus-a"))
        await pool.execute("INSERT INTO notices VALUES ('gate', 1, 'en', 'Text', 'hash', false, now())")
        await pool.execute(_CONSENT.format(consent="00000000-0000-0000-0000-000000000001", purpose="gate",
                                           controller="campus-a"))

        applied = await apply_migrations(pool, EVERY)
        notices = await pool.fetch("SELECT purpose_id, controller_id, version FROM notices")
        await pool.execute(_PURPOSE.format(purpose="gate", controller="campus-b"))  # another controller's "gate"
        await pool.execute(_CONSENT.format(consent="00000000-0000-0000-0000-000000000002", purpose="gate",
                                           controller="campus-b"))  # the same person there: another record
        with pytest.raises(asyncpg.ForeignKeyViolationError):  # a consent's controller is its purpose's
            await pool.execute(_CONSENT.format(consent="00000000-0000-0000-0000-000000000003", purpose="gate",
                                               controller="campus-c"))
        with pytest.raises(asyncpg.UniqueViolationError):  # one record per person and purpose at a controller
            await pool.execute(_CONSENT.format(consent="00000000-0000-0000-0000-000000000004", purpose="gate",
                                               controller="campus-a"))
        consents = await pool.fetch("SELECT controller_id FROM consents ORDER BY controller_id")

    assert applied[:2] == [f"{PACKAGE}:0008_consents_per_controller_index.sql",
                           f"{PACKAGE}:0009_purposes_per_controller.sql"]  # and any later ones
    assert [tuple(r.values()) for r in notices] == [("gate", "campus-a", 1)]
    assert [r["controller_id"] for r in consents] == ["campus-a", "campus-b"]


_PURPOSE = ("INSERT INTO purposes (purpose_id, controller_id, name, data_categories, storage_location, retention,"
            " legal_basis, non_face_alternative, minimum_age, pia_reference)"
            " VALUES ('{purpose}', '{controller}', 'Gate', '{{1}}', 2, '365 days', 1, 'Badge', 0, 'PIA-1')")
_CONSENT = ("INSERT INTO consents (consent_id, subject_id, purpose_id, controller_id, state, notice_version,"
            " notice_language, notice_hash, jurisdiction, collection_method, actor_kind, subject_age,"
            " alternative_offered, granted_at, expires_at, last_interaction_at, updated_at)"
            " VALUES ('{consent}', 'mei', '{purpose}', '{controller}', 1, 1, 'en', 'hash', 'CN', 1, 1, 30, true,"
            " now(), now(), now(), now())")
