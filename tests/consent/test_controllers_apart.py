"""Controllers apart: the same person id at two controllers is two subjects. Consent, withdrawal,
expiry and erasure at one leave the other untouched, and a client of one controller gets for the
other's purposes, consents and filing status exactly what it gets for ones that never existed."""

import asyncio
from datetime import timedelta

import grpc
import pytest
from google.protobuf import timestamp_pb2

from consentry.consent.v1 import consent_admin_pb2 as admin_pb
from consentry.consent.v1 import consent_pb2 as pb
from consentry_client import error_info
from consentry_client.pages import items
from services.common.grpc_errors import field_violations
from tests.consent.builders import (
    CONTROLLER, NOTICE_EN, OTHER_CONTROLLER, check, grant, purpose, registered_purpose, time_passes,
)
from tests.support import read_events, unique

SUBJECT = pb.Actor(kind=pb.ACTOR_KIND_SUBJECT)


@pytest.fixture
def campus(connect):
    """A client of CONTROLLER granted the whole service and every purpose, as bank-app is of OTHER_CONTROLLER:
    whatever it is refused for B, it is refused for being B's."""
    return connect("whole-service-app")


async def refused(call, request) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await call(request, timeout=30)
    return error.value


def _shape(error: grpc.aio.AioRpcError, *ids: str) -> tuple:
    """What a caller learns from an error, with the ids it named itself put aside."""
    def hide(text: str) -> str:
        for i in ids:
            text = text.replace(i, "<id>")
        return text
    info = error_info(error)
    return (error.code(), hide(error.details()), info.reason, info.domain,
            {k: hide(v) for k, v in info.metadata.items()})


async def one_person_at_both(admin, gate, bank) -> tuple[str, pb.Purpose, pb.Purpose, pb.GrantConsentResponse]:
    """A person with a consent at CONTROLLER (gate's) and one at OTHER_CONTROLLER (bank's); B's grant."""
    at_a = await registered_purpose(admin)
    at_b = await registered_purpose(admin, controller_id=OTHER_CONTROLLER)
    person = unique("mei")
    await gate.GrantConsent(grant(person, at_a.purpose_id))
    granted_b = await bank.GrantConsent(grant(person, at_b.purpose_id))
    assert (await gate.CheckConsent(check(person, at_a.purpose_id))).decision == pb.DECISION_ALLOW
    assert (await bank.CheckConsent(check(person, at_b.purpose_id))).decision == pb.DECISION_ALLOW
    return person, at_a, at_b, granted_b


def erase(person: str, controller_id: str) -> admin_pb.EraseSubjectRequest:
    return admin_pb.EraseSubjectRequest(subject_id=person, request_id=unique("dsr"), controller_id=controller_id,
                                        idempotency_key=unique("erase"))


def listed(response: pb.ListConsentsResponse) -> list[tuple[str, str, int]]:
    return [(c.purpose_id, c.controller_id, c.state) for c in response.consents]


async def test_erasure_at_one_controller_leaves_the_person_at_the_other_untouched(
        admin, gate, bank, consent_admin, kafka, consent_events):
    person, at_a, at_b, granted_b = await one_person_at_both(admin, gate, bank)
    history_a = await gate.GetConsentHistory(pb.GetConsentHistoryRequest(subject_id=person, purpose_id=at_a.purpose_id))
    history_b = await bank.GetConsentHistory(pb.GetConsentHistoryRequest(subject_id=person, purpose_id=at_b.purpose_id))

    erased = await consent_admin.EraseSubject(erase(person, CONTROLLER))

    assert erased.consents_erased == 1
    # At A: erased, and the person may not consent there again.
    assert (await gate.CheckConsent(check(person, at_a.purpose_id))).reason == pb.DENY_REASON_SUBJECT_ERASED
    assert not (await gate.ListConsents(pb.ListConsentsRequest(subject_id=person))).consents
    again = await refused(gate.GrantConsent, grant(person, at_a.purpose_id))
    assert (again.code(), error_info(again).reason) == (grpc.StatusCode.FAILED_PRECONDITION, "SUBJECT_ERASED")
    # At B: the same person's consent, history and receipt as they were, and a new consent is welcome.
    assert (await bank.CheckConsent(check(person, at_b.purpose_id))).decision == pb.DECISION_ALLOW
    assert listed(await bank.ListConsents(pb.ListConsentsRequest(subject_id=person))) == [
        (at_b.purpose_id, OTHER_CONTROLLER, pb.CONSENT_STATE_GIVEN)]
    assert await bank.GetConsentHistory(pb.GetConsentHistoryRequest(
        subject_id=person, purpose_id=at_b.purpose_id)) == history_b
    page = await bank.RenderReceipt(pb.RenderReceiptRequest(
        receipt_json=granted_b.receipt.receipt_json, signature=granted_b.receipt.signature,
        key_id=granted_b.receipt.key_id, language="en"))
    assert person in page.html
    later = await registered_purpose(admin, controller_id=OTHER_CONTROLLER)
    assert (await bank.GrantConsent(grant(person, later.purpose_id))).consent.subject_id == person

    # On the broker: the event key of the person at A is gone, the one at B still opens B's events.
    granted_a_id, granted_b_id = history_a.events[0].event_id, history_b.events[0].event_id
    events = await read_events(kafka, "consent.events", opener=consent_events, timeout=60,
                               until=lambda evs: {granted_a_id, granted_b_id} <= {e.event_id for e in evs})
    by_id = {e.event_id: e for e in events}
    assert (by_id[granted_a_id].controller_id, by_id[granted_a_id].subject_id) == (CONTROLLER, "")
    assert (by_id[granted_b_id].controller_id, by_id[granted_b_id].subject_id) == (OTHER_CONTROLLER, person)


async def test_the_outbox_is_redacted_only_for_the_person_at_the_controller_that_erased(
        admin, gate, bank, consent_admin, consent_app):
    person, _, _, _ = await one_person_at_both(admin, gate, bank)
    naming = "SELECT controller_id, event_type FROM outbox WHERE persons && ARRAY[$1::text] ORDER BY id"
    async with consent_app.pool.acquire() as conn:
        before = [tuple(r.values()) for r in await conn.fetch(naming, person)]

    await consent_admin.EraseSubject(erase(person, CONTROLLER))

    async with consent_app.pool.acquire() as conn:
        after = [tuple(r.values()) for r in await conn.fetch(naming, person)]
        erasure = await conn.fetchrow("SELECT controller_id, subject_id FROM outbox"
                                      " WHERE event_type = 'consent.subject.erased' ORDER BY id DESC LIMIT 1")
    assert before == [(CONTROLLER, "consent.granted"), (OTHER_CONTROLLER, "consent.granted")]
    assert after == [(OTHER_CONTROLLER, "consent.granted")]
    assert tuple(erasure.values()) == (CONTROLLER, "")


async def test_withdrawal_and_expiry_at_one_controller_leave_the_other_granted(admin, gate, bank, consent_admin,
                                                                              postgres, consent_app):
    person, at_a, at_b, _ = await one_person_at_both(admin, gate, bank)

    withdrawn = await gate.WithdrawConsent(pb.WithdrawConsentRequest(
        subject_id=person, purpose_id=at_a.purpose_id, actor=SUBJECT, idempotency_key=unique("wd")))

    assert withdrawn.consent.state == pb.CONSENT_STATE_WITHDRAWN
    assert (await bank.CheckConsent(check(person, at_b.purpose_id))).decision == pb.DECISION_ALLOW

    again_a = await registered_purpose(admin)
    await gate.GrantConsent(grant(person, again_a.purpose_id))
    await time_passes(postgres, person, again_a.purpose_id, timedelta(days=400))
    await consent_admin.ExpireConsents(admin_pb.ExpireConsentsRequest())

    assert (await gate.CheckConsent(check(person, again_a.purpose_id))).reason == pb.DENY_REASON_EXPIRED
    assert listed(await bank.ListConsents(pb.ListConsentsRequest(subject_id=person))) == [
        (at_b.purpose_id, OTHER_CONTROLLER, pb.CONSENT_STATE_GIVEN)]
    # Each event about the person names the controller they are a subject of there.
    async with consent_app.pool.acquire() as conn:
        events = [tuple(r.values()) for r in await conn.fetch(
            "SELECT event_type, controller_id FROM outbox WHERE persons && ARRAY[$1::text] ORDER BY id", person)]
    assert events == [("consent.granted", CONTROLLER), ("consent.granted", OTHER_CONTROLLER),
                      ("consent.withdrawn", CONTROLLER), ("consent.granted", CONTROLLER),
                      ("consent.expired", CONTROLLER)]


async def test_a_controller_lists_its_own_consents_of_a_person_and_an_operator_names_the_controller(
        admin, gate, bank):
    person, at_a, at_b, _ = await one_person_at_both(admin, gate, bank)

    assert listed(await gate.ListConsents(pb.ListConsentsRequest(subject_id=person))) == [
        (at_a.purpose_id, CONTROLLER, pb.CONSENT_STATE_GIVEN)]
    assert listed(await bank.ListConsents(pb.ListConsentsRequest(subject_id=person))) == [
        (at_b.purpose_id, OTHER_CONTROLLER, pb.CONSENT_STATE_GIVEN)]
    for controller_id, purpose_id in ((CONTROLLER, at_a.purpose_id), (OTHER_CONTROLLER, at_b.purpose_id)):
        shown = await admin.ListConsents(pb.ListConsentsRequest(subject_id=person, controller_id=controller_id))
        assert listed(shown) == [(purpose_id, controller_id, pb.CONSENT_STATE_GIVEN)]


async def test_a_page_token_continues_the_list_of_its_own_controller_only(admin, gate, bank):
    person, _, _, _ = await one_person_at_both(admin, gate, bank)
    await gate.GrantConsent(grant(person, (await registered_purpose(admin)).purpose_id))
    first = await admin.ListConsents(pb.ListConsentsRequest(subject_id=person, controller_id=CONTROLLER, page_size=1))
    assert first.next_page_token

    elsewhere = await refused(admin.ListConsents, pb.ListConsentsRequest(
        subject_id=person, controller_id=OTHER_CONTROLLER, page_size=1, page_token=first.next_page_token))

    assert field_violations(elsewhere) == [("page_token", "page_token.valid")]


def _about(person: str, purpose_id: str) -> dict:
    """A request of each RPC that names a purpose, about `person`."""
    now = timestamp_pb2.Timestamp()
    now.GetCurrentTime()
    return {
        "GetPurpose": pb.GetPurposeRequest(purpose_id=purpose_id),
        "PublishNotice": pb.PublishNoticeRequest(purpose_id=purpose_id, idempotency_key=unique("pub"),
                                                 texts=[pb.PublishNoticeRequest.Text(language="en", text="New text")],
                                                 material_change=True),
        "GrantConsent": grant(person, purpose_id),
        "WithdrawConsent": pb.WithdrawConsentRequest(subject_id=person, purpose_id=purpose_id, actor=SUBJECT,
                                                     idempotency_key=unique("wd")),
        "GetConsentHistory": pb.GetConsentHistoryRequest(subject_id=person, purpose_id=purpose_id),
        "GetConsentAsOf": pb.GetConsentAsOfRequest(subject_id=person, purpose_id=purpose_id, as_of=now),
        "RecordInteraction": pb.RecordInteractionRequest(subject_id=person, purpose_id=purpose_id),
        "IssueReceipt": pb.IssueReceiptRequest(subject_id=person, purpose_id=purpose_id),
    }


async def test_a_client_of_one_controller_gets_for_anothers_purpose_what_an_unknown_purpose_gets(
        admin, gate, bank, campus):
    person, _, at_b, granted_b = await one_person_at_both(admin, gate, bank)
    never = unique("never-registered")
    history_b = await bank.GetConsentHistory(pb.GetConsentHistoryRequest(subject_id=person, purpose_id=at_b.purpose_id))

    for rpc, request in _about(person, at_b.purpose_id).items():
        hidden = await refused(getattr(campus, rpc), request)
        absent = await refused(getattr(campus, rpc), _about(person, never)[rpc])
        assert _shape(hidden, at_b.purpose_id) == _shape(absent, never), rpc
        assert hidden.code() == grpc.StatusCode.NOT_FOUND, rpc
    for asked in (campus.CheckConsent, campus.CheckConsents):
        hidden = await asked(check(person, at_b.purpose_id) if asked == campus.CheckConsent
                             else pb.CheckConsentsRequest(checks=[check(person, at_b.purpose_id)]))
        absent = await asked(check(person, never) if asked == campus.CheckConsent
                             else pb.CheckConsentsRequest(checks=[check(person, never)]))
        assert hidden == absent
    assert (await campus.CheckConsent(check(person, never))).reason == pb.DENY_REASON_UNKNOWN_PURPOSE
    receipt = await refused(campus.RenderReceipt, pb.RenderReceiptRequest(
        receipt_json=granted_b.receipt.receipt_json, signature=granted_b.receipt.signature,
        key_id=granted_b.receipt.key_id))
    assert (receipt.code(), error_info(receipt).reason) == (grpc.StatusCode.NOT_FOUND, "PURPOSE_NOT_FOUND")

    # Nothing of B changed: no notice published, nothing withdrawn or touched.
    assert (await bank.GetPurpose(pb.GetPurposeRequest(purpose_id=at_b.purpose_id))).purpose.current_notice_version \
        == 1
    assert await bank.GetConsentHistory(pb.GetConsentHistoryRequest(
        subject_id=person, purpose_id=at_b.purpose_id)) == history_b


@pytest.mark.parametrize("rpc", ["GetFilingStatus", "ListConsents", "ListPurposes"])
async def test_a_client_naming_another_controller_gets_what_an_unknown_controller_gets(admin, gate, bank, campus,
                                                                                       rpc):
    person, _, at_b, _ = await one_person_at_both(admin, gate, bank)
    never = unique("never-registered")
    request = {"GetFilingStatus": lambda c: pb.GetFilingStatusRequest(controller_id=c),
               "ListConsents": lambda c: pb.ListConsentsRequest(subject_id=person, controller_id=c),
               "ListPurposes": lambda c: pb.ListPurposesRequest(controller_id=c)}[rpc]
    assert await getattr(bank, rpc)(request(OTHER_CONTROLLER))  # there for its own client

    hidden = await refused(getattr(campus, rpc), request(OTHER_CONTROLLER))
    absent = await refused(getattr(campus, rpc), request(never))

    assert _shape(hidden, OTHER_CONTROLLER) == _shape(absent, never)
    assert _shape(hidden, OTHER_CONTROLLER)[:3] == (grpc.StatusCode.NOT_FOUND, "controller '<id>' does not exist",
                                                    "CONTROLLER_NOT_FOUND")


async def test_a_controllers_client_lists_its_own_purposes_whatever_its_grant(admin, gate, bank):
    at_a = await registered_purpose(admin)
    at_b = await registered_purpose(admin, controller_id=OTHER_CONTROLLER)

    own = {p.purpose_id: p.controller_id async for p in items(gate.ListPurposes, pb.ListPurposesRequest(page_size=1000),
                                                               "purposes")}
    theirs = {p.purpose_id async for p in items(bank.ListPurposes, pb.ListPurposesRequest(page_size=1000), "purposes")}

    assert at_a.purpose_id in own and set(own.values()) == {CONTROLLER}
    assert at_b.purpose_id in theirs and at_a.purpose_id not in theirs


async def test_an_operator_that_names_no_controller_is_refused_and_nothing_changes(
        admin, gate, bank, connect, consent_admin):
    person, at_a, at_b, _ = await one_person_at_both(admin, gate, bank)

    unnamed_erasure = await refused(consent_admin.EraseSubject, erase(person, ""))
    unnamed_list = await refused(admin.ListConsents, pb.ListConsentsRequest(subject_id=person))
    unnamed_check = await refused(connect("keyvault").CheckConsent, check(person, at_a.purpose_id))

    for error in (unnamed_erasure, unnamed_list, unnamed_check):
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field_violations(error) == [("controller_id", "required")]
    assert (await gate.CheckConsent(check(person, at_a.purpose_id))).decision == pb.DECISION_ALLOW
    assert (await bank.CheckConsent(check(person, at_b.purpose_id))).decision == pb.DECISION_ALLOW


async def test_erasure_at_a_controller_never_registered_is_not_found_and_erases_no_one(admin, gate, bank,
                                                                                        consent_admin):
    person, at_a, at_b, _ = await one_person_at_both(admin, gate, bank)
    never = unique("never-registered")

    error = await refused(consent_admin.EraseSubject, erase(person, never))

    assert _shape(error, never)[:3] == (grpc.StatusCode.NOT_FOUND, "controller '<id>' does not exist",
                                        "CONTROLLER_NOT_FOUND")
    assert (await gate.CheckConsent(check(person, at_a.purpose_id))).decision == pb.DECISION_ALLOW
    assert (await bank.CheckConsent(check(person, at_b.purpose_id))).decision == pb.DECISION_ALLOW


async def test_an_operator_checks_in_the_controller_it_names(admin, gate, bank, connect):
    person, at_a, at_b, _ = await one_person_at_both(admin, gate, bank)
    keyvault = connect("keyvault")

    def asked(purpose_id: str, controller_id: str) -> pb.CheckConsentRequest:
        return pb.CheckConsentRequest(subject_id=person, purpose_id=purpose_id, controller_id=controller_id)

    assert (await keyvault.CheckConsent(asked(at_b.purpose_id, OTHER_CONTROLLER))).decision == pb.DECISION_ALLOW
    assert (await keyvault.CheckConsent(asked(at_a.purpose_id, CONTROLLER))).decision == pb.DECISION_ALLOW
    crossed = await keyvault.CheckConsents(pb.CheckConsentsRequest(checks=[
        asked(at_b.purpose_id, CONTROLLER), asked(at_a.purpose_id, OTHER_CONTROLLER)]))
    assert [r.reason for r in crossed.results] == [pb.DENY_REASON_UNKNOWN_PURPOSE] * 2
    # Asked again, from the decision cache: still only in its own controller.
    await asyncio.sleep(0)
    assert (await keyvault.CheckConsent(asked(at_b.purpose_id, CONTROLLER))).reason == pb.DENY_REASON_UNKNOWN_PURPOSE
    assert (await keyvault.CheckConsent(asked(at_b.purpose_id, OTHER_CONTROLLER))).decision == pb.DECISION_ALLOW


async def test_an_operator_asking_the_filing_status_of_a_controller_never_registered_gets_not_found(admin, bank):
    registered = await admin.GetFilingStatus(pb.GetFilingStatusRequest(controller_id=OTHER_CONTROLLER))

    error = await refused(admin.GetFilingStatus, pb.GetFilingStatusRequest(controller_id=unique("never-registered")))

    assert registered.controller_id == OTHER_CONTROLLER  # a registered one answers, with or without face data
    assert (error.code(), error_info(error).reason) == (grpc.StatusCode.NOT_FOUND, "CONTROLLER_NOT_FOUND")


async def test_two_controllers_use_one_purpose_id_and_neither_learns_of_the_other(admin, gate, bank, campus):
    shared = unique("gate-access")
    at_b = await registered_purpose(admin, purpose_id=shared, controller_id=OTHER_CONTROLLER, name="Branch entry")
    person = unique("mei")
    await bank.GrantConsent(grant(person, shared))
    history_b = await bank.GetConsentHistory(pb.GetConsentHistoryRequest(subject_id=person, purpose_id=shared))

    # A's client registers the id B uses exactly as an id nobody uses: registered, under A.
    fresh = unique("gate-access")
    for purpose_id in (shared, fresh):
        registered = await campus.RegisterPurpose(pb.RegisterPurposeRequest(
            purpose=purpose(purpose_id), idempotency_key=unique("reg")))
        assert (registered.purpose.purpose_id, registered.purpose.controller_id) == (purpose_id, CONTROLLER)
    await campus.PublishNotice(pb.PublishNoticeRequest(
        purpose_id=shared, idempotency_key=unique("pub"),
        texts=[pb.PublishNoticeRequest.Text(language="en", text=NOTICE_EN)]))
    await gate.GrantConsent(grant(person, shared))

    # Each controller's client sees its own purpose under the id, with its own notices and consent.
    assert (await gate.GetPurpose(pb.GetPurposeRequest(purpose_id=shared))).purpose.name == "Gate access by face"
    assert (await bank.GetPurpose(pb.GetPurposeRequest(purpose_id=shared))).purpose.name == at_b.name
    assert [len(r.notices) for r in (await gate.GetPurpose(pb.GetPurposeRequest(purpose_id=shared)),
                                     await bank.GetPurpose(pb.GetPurposeRequest(purpose_id=shared)))] == [1, 2]

    # A changes its notice materially and the person withdraws there: nothing of B moves.
    published = await campus.PublishNotice(pb.PublishNoticeRequest(
        purpose_id=shared, idempotency_key=unique("pub"), material_change=True,
        texts=[pb.PublishNoticeRequest.Text(language="en", text="A new notice")]))
    assert published.consents_needing_renewal == 1
    await gate.WithdrawConsent(pb.WithdrawConsentRequest(subject_id=person, purpose_id=shared, actor=SUBJECT,
                                                         idempotency_key=unique("wd")))
    assert (await gate.CheckConsent(check(person, shared))).decision == pb.DECISION_DENY
    assert (await bank.CheckConsent(check(person, shared))).decision == pb.DECISION_ALLOW
    assert (await bank.GetPurpose(pb.GetPurposeRequest(purpose_id=shared))).purpose.current_notice_version == 1
    assert await bank.GetConsentHistory(pb.GetConsentHistoryRequest(subject_id=person, purpose_id=shared)) == history_b

    # An operator names the controller where two use the id, and is told so (no change) when it does not.
    ambiguous = await refused(admin.GetPurpose, pb.GetPurposeRequest(purpose_id=shared))
    assert (ambiguous.code(), error_info(ambiguous).reason) == (grpc.StatusCode.FAILED_PRECONDITION,
                                                                "CONTROLLER_REQUIRED")
    unnamed_withdrawal = await refused(admin.WithdrawConsent, pb.WithdrawConsentRequest(
        subject_id=person, purpose_id=shared, actor=SUBJECT, idempotency_key=unique("wd")))
    assert error_info(unnamed_withdrawal).reason == "CONTROLLER_REQUIRED"
    assert (await bank.CheckConsent(check(person, shared))).decision == pb.DECISION_ALLOW
    named = await admin.GetPurpose(pb.GetPurposeRequest(purpose_id=shared, controller_id=OTHER_CONTROLLER))
    assert named.purpose.name == at_b.name
    # Its list holds both, by id then controller, across pages of one.
    listed_both = [(p.purpose_id, p.controller_id) async for p in items(
        admin.ListPurposes, pb.ListPurposesRequest(page_size=1), "purposes") if p.purpose_id == shared]
    assert listed_both == [(shared, CONTROLLER), (shared, OTHER_CONTROLLER)]
