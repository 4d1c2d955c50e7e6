"""Lists come a page at a time (AIP-158): each item exactly once, in a stable order; a page token
continues only the query it came from; a page size above the maximum is the maximum, not an error."""

import base64
import json

import asyncpg
import grpc
import pytest

from consentry.consent.v1 import consent_pb2 as pb
from consentry_client import items
from services.common.grpc_errors import field_violations
from services.consent.api.validation import DEFAULT_PAGE, MAX_PAGE
from tests.consent.builders import CONTROLLER, grant, purpose, registered_controller, registered_purpose
from tests.consent.test_authorization import refused
from tests.support import unique


async def every_page(call, request) -> list:
    """Each page of a list, following next_page_token by hand."""
    found = [await call(request)]
    while found[-1].next_page_token:
        request.page_token = found[-1].next_page_token
        found.append(await call(request))
    return found


async def consented_to(admin, subject: str, count: int) -> list[str]:
    """`count` purposes the subject consented to, their ids in order."""
    ids = []
    for _ in range(count):
        p = await registered_purpose(admin)
        await admin.GrantConsent(grant(subject, p.purpose_id))
        ids.append(p.purpose_id)
    return sorted(ids)


async def test_list_purposes_pages_through_each_purpose_exactly_once(admin, consent_admin):
    controller = (await registered_controller(consent_admin, unique("campus"))).controller_id
    registered = sorted([(await admin.RegisterPurpose(pb.RegisterPurposeRequest(
        purpose=purpose(controller_id=controller), idempotency_key=unique("reg")))).purpose.purpose_id
        for _ in range(7)])

    found = await every_page(admin.ListPurposes, pb.ListPurposesRequest(controller_id=controller, page_size=3))

    assert [len(page.purposes) for page in found] == [3, 3, 1]
    assert [p.purpose_id for page in found for p in page.purposes] == registered
    assert all(p.controller_id == controller for page in found for p in page.purposes)


async def test_list_consents_pages_through_each_consent_exactly_once(admin, gate):
    subject = unique("subj")
    purposes = await consented_to(admin, subject, 5)

    found = await every_page(gate.ListConsents, pb.ListConsentsRequest(subject_id=subject, page_size=2))

    assert [len(page.consents) for page in found] == [2, 2, 1]
    assert [c.purpose_id for page in found for c in page.consents] == purposes
    assert [c.purpose_id async for c in items(gate.ListConsents, pb.ListConsentsRequest(subject_id=subject),
                                              "consents")] == purposes


async def test_consent_history_pages_its_events_in_order_with_the_consent_on_every_page(admin, gate):
    subject, p = unique("subj"), await registered_purpose(admin)
    for _ in range(2):
        await gate.GrantConsent(grant(subject, p.purpose_id))
        await gate.WithdrawConsent(pb.WithdrawConsentRequest(
            subject_id=subject, purpose_id=p.purpose_id, actor=pb.Actor(kind=pb.ACTOR_KIND_SUBJECT),
            idempotency_key=unique("withdraw")))
    await gate.GrantConsent(grant(subject, p.purpose_id))
    request = pb.GetConsentHistoryRequest(subject_id=subject, purpose_id=p.purpose_id)
    unpaged = await gate.GetConsentHistory(request)

    request.page_size = 2
    found = await every_page(gate.GetConsentHistory, request)

    assert [len(page.events) for page in found] == [2, 2, 1]
    assert [e for page in found for e in page.events] == list(unpaged.events)
    assert [e.event_type for e in unpaged.events] == [pb.CONSENT_EVENT_TYPE_GRANTED, pb.CONSENT_EVENT_TYPE_WITHDRAWN] * 2 + [
        pb.CONSENT_EVENT_TYPE_GRANTED]
    assert all(page.consent == unpaged.consent for page in found)
    assert not unpaged.next_page_token


async def test_a_token_from_another_subjects_query_is_refused_and_changes_nothing(admin, gate):
    mine, theirs = unique("subj"), unique("subj")
    purposes = await consented_to(admin, mine, 3)
    await admin.GrantConsent(grant(theirs, purposes[0]))
    first = await gate.ListConsents(pb.ListConsentsRequest(subject_id=mine, page_size=1))
    await gate.WithdrawConsent(pb.WithdrawConsentRequest(
        subject_id=mine, purpose_id=purposes[0], actor=pb.Actor(kind=pb.ACTOR_KIND_SUBJECT),
        idempotency_key=unique("withdraw")))
    history = await gate.GetConsentHistory(pb.GetConsentHistoryRequest(subject_id=mine, purpose_id=purposes[0],
                                                                        page_size=1))

    listed = await refused(gate.ListConsents, pb.ListConsentsRequest(
        subject_id=theirs, page_size=1, page_token=first.next_page_token))
    their_history = await refused(gate.GetConsentHistory, pb.GetConsentHistoryRequest(
        subject_id=theirs, purpose_id=purposes[0], page_size=1, page_token=history.next_page_token))
    other_list = await refused(admin.ListPurposes, pb.ListPurposesRequest(page_size=1,
                                                                         page_token=first.next_page_token))

    for error in (listed, their_history, other_list):
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field_violations(error) == [("page_token", "page_token.valid")]
    assert [c.purpose_id for c in (await gate.ListConsents(pb.ListConsentsRequest(subject_id=theirs))).consents] \
        == [purposes[0]]
    second = await gate.ListConsents(pb.ListConsentsRequest(subject_id=mine, page_size=1,
                                                            page_token=first.next_page_token))
    assert [c.purpose_id for c in second.consents] == [purposes[1]]


def _tampered(token: str) -> list[str]:
    raw = base64.urlsafe_b64decode(token)
    flipped = raw[:-1] + bytes([raw[-1] ^ 1])
    position = json.loads(raw[16:])
    forged = raw[:16] + json.dumps(["~" if isinstance(position[0], str) else 0]).encode()
    return [base64.urlsafe_b64encode(flipped).decode(), base64.urlsafe_b64encode(forged).decode(),
            base64.urlsafe_b64encode(b"\0" * 16 + b'["a"]').decode(), "not a token", "x" * 2000]


async def test_an_altered_or_hand_made_token_is_refused(admin, gate):
    subject = unique("subj")
    await consented_to(admin, subject, 2)
    first = await gate.ListConsents(pb.ListConsentsRequest(subject_id=subject, page_size=1))

    for token in _tampered(first.next_page_token):
        error = await refused(gate.ListConsents, pb.ListConsentsRequest(subject_id=subject, page_size=1,
                                                                        page_token=token))
        assert field_violations(error) == [("page_token", "page_token.valid")], token


async def test_a_page_size_above_the_maximum_is_the_maximum(admin, postgres):
    controller = unique("campus")
    conn = await asyncpg.connect(postgres.dsn("consent"))
    try:  # MAX_PAGE + 1 purposes in one statement: registering them one by one would take long
        await conn.execute(
            "INSERT INTO purposes (purpose_id, controller_id, name, data_categories, storage_location, retention,"
            " legal_basis, non_face_alternative, minimum_age, pia_reference)"
            " SELECT $1 || '-' || lpad(n::text, 5, '0'), $1, 'Gate access by face', '{1}', 2, '365 days', 1,"
            " 'Badge', 0, 'PIA-1' FROM generate_series(1, $2) AS n", controller, MAX_PAGE + 1)
    finally:
        await conn.close()

    first = await admin.ListPurposes(pb.ListPurposesRequest(controller_id=controller, page_size=MAX_PAGE * 5))
    rest = await admin.ListPurposes(pb.ListPurposesRequest(controller_id=controller, page_size=MAX_PAGE * 5,
                                                           page_token=first.next_page_token))
    default = await admin.ListPurposes(pb.ListPurposesRequest(controller_id=controller))

    assert len(first.purposes) == MAX_PAGE and first.next_page_token
    assert len(rest.purposes) == 1 and not rest.next_page_token
    assert len(default.purposes) == DEFAULT_PAGE


async def test_a_list_shows_only_the_purposes_the_caller_may_use(admin, connect):
    lobby = "lobby-entry"
    try:
        await admin.RegisterPurpose(pb.RegisterPurposeRequest(purpose=purpose(lobby), idempotency_key=unique("reg")))
        await admin.PublishNotice(pb.PublishNoticeRequest(purpose_id=lobby, idempotency_key=unique("pub"), texts=[
            pb.PublishNoticeRequest.Text(language="en", text="We store a template of your face.")]))
    except grpc.aio.AioRpcError as error:  # registered by an earlier run of this test in the session
        assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    subject = unique("subj")
    others = await consented_to(admin, subject, 2)
    await admin.GrantConsent(grant(subject, lobby, text="We store a template of your face."))
    screen = connect("lobby-screen")

    consents = await every_page(screen.ListConsents, pb.ListConsentsRequest(subject_id=subject, page_size=1))
    purposes = [p.purpose_id async for p in items(screen.ListPurposes, pb.ListPurposesRequest(page_size=1),
                                                  "purposes")]

    assert [c.purpose_id for page in consents for c in page.consents] == [lobby]
    assert purposes == [lobby]
    assert set(others) < {c.purpose_id for c in (await admin.ListConsents(
        pb.ListConsentsRequest(subject_id=subject, controller_id=CONTROLLER))).consents}


@pytest.mark.parametrize(("request_", "field"), [
    (pb.ListPurposesRequest(controller_id="no spaces"), "controller_id"),
    (pb.ListConsentsRequest(controller_id=CONTROLLER), "subject_id"),
    (pb.ListConsentsRequest(subject_id="s"), "controller_id"),  # an operator names the controller
    (pb.GetConsentHistoryRequest(subject_id="s"), "purpose_id"),
])
async def test_a_bad_list_request_names_the_field(admin, request_, field):
    call = getattr(admin, type(request_).__name__.removesuffix("Request"))

    error = await refused(call, request_)

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in field_violations(error)] == [field]
