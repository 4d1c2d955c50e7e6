"""Two controllers, one person: the same person id at acme-campus and at river-bank is two subjects.
A request is one controller's: the other controller's clients are told it does not exist, exactly as
an unknown id, and never list it; its tasks go to its controller's processors only, which alone
confirm them; a deletion at one leaves the person's consent and key at the other; and an operator
(the portal, a DPO's desk) must say which controller a request is for."""

import asyncio

import asyncpg
import grpc
import pytest

from consentry.consent.v1 import consent_pb2 as cpb
from consentry.dsr.v1 import dsr_pb2 as pb
from consentry.keyvault.v1 import keyvault_pb2 as kpb
from consentry_client import error_info
from services.common.grpc_errors import field_violations
from tests.consent.builders import CONTROLLER, check, grant, registered_controller, registered_purpose
from tests.dsr.fixtures import SECOND_CONTROLLER, correcting_processors
from tests.dsr.test_requests import settled, submission, verify
from tests.keyvault.test_data_keys import refused
from tests.support import unique

pytestmark = pytest.mark.parametrize("backend", ["wrapped"], indirect=True, scope="session")
A, B = CONTROLLER, SECOND_CONTROLLER


def same_as_unknown(error: grpc.aio.AioRpcError, unknown: grpc.aio.AioRpcError, asked: str, unknown_id: str) -> bool:
    """The same code, reason and message as for an id that does not exist (but for the id itself)."""
    return ((error.code(), error_info(error).reason, error.details().replace(asked, "<id>"))
            == (unknown.code(), error_info(unknown).reason, unknown.details().replace(unknown_id, "<id>")))


async def listed(client, subject: str, **fields) -> list[pb.Request]:
    return list((await client.ListRequests(pb.ListRequestsRequest(subject_id=subject, **fields))).requests)


async def test_a_request_at_one_controller_is_unknown_to_the_other_controllers_client(dsr, operator, backend):
    person = unique("subj")
    at_a = (await operator.SubmitRequest(submission(person, pb.REQUEST_TYPE_ACCESS, jurisdiction="US-CA",
                                                    controller_id=A))).request
    at_b = (await operator.SubmitRequest(submission(person, pb.REQUEST_TYPE_ACCESS, controller_id=B))).request
    campus, bank = dsr("campus-office"), dsr("bank-office")
    # Presence first: each controller's own client sees its own request, and lists it.
    own = (await campus.GetRequest(pb.GetRequestRequest(request_id=at_a.request_id))).request
    own_listed, bank_listed = await listed(campus, person), await listed(bank, person)
    assert (own.controller_id, at_a.controller_id, at_b.controller_id) == (A, A, B)
    assert [r.request_id for r in own_listed] == [at_a.request_id]
    assert [r.request_id for r in bank_listed] == [at_b.request_id]

    asked, unknown_id = at_a.request_id, unique("no-such-request")
    unknown = await refused(bank.GetRequest, pb.GetRequestRequest(request_id=unknown_id))
    calls = {
        "GetRequest": (bank.GetRequest, lambda i: pb.GetRequestRequest(request_id=i)),
        "GetExport": (bank.GetExport, lambda i: pb.GetExportRequest(request_id=i)),
        "AcknowledgeRequest": (bank.AcknowledgeRequest, lambda i: pb.AcknowledgeRequestRequest(
            request_id=i, idempotency_key=unique("idem"))),
        "ExtendDeadline": (bank.ExtendDeadline, lambda i: pb.ExtendDeadlineRequest(
            request_id=i, reason="complex", idempotency_key=unique("idem"))),
        "RejectRequest": (bank.RejectRequest, lambda i: pb.RejectRequestRequest(
            request_id=i, idempotency_key=unique("idem"), reason=pb.RejectionReason(
                code="manifestly-unfounded", explanation="no", complaint_route="the DPA"))),
        "VerifyIdentity": (bank.VerifyIdentity, lambda i: verify(i)),
    }
    for name, (call, made) in calls.items():
        theirs, nobodys = await refused(call, made(asked)), await refused(call, made(unknown_id))
        assert same_as_unknown(theirs, nobodys, asked, unknown_id), name
        assert theirs.code() == grpc.StatusCode.NOT_FOUND, name
    naming_a = await refused(bank.ListRequests, pb.ListRequestsRequest(subject_id=person, controller_id=A))
    after = (await operator.GetRequest(pb.GetRequestRequest(request_id=asked))).request

    assert same_as_unknown(await refused(bank.GetRequest, pb.GetRequestRequest(request_id=asked)), unknown,
                           asked, unknown_id)
    assert (naming_a.code(), error_info(naming_a).reason) == (grpc.StatusCode.NOT_FOUND, "CONTROLLER_NOT_FOUND")
    assert at_a.request_id not in {r.request_id for r in await listed(bank, person)}
    # Nothing the other controller's client asked for happened to the request.
    assert after.status == pb.REQUEST_STATUS_VERIFICATION_PENDING and not after.HasField("acknowledged_at")
    assert not after.extended and after.timeline == at_a.timeline


async def test_an_operator_lists_one_controllers_requests_with_tokens_bound_to_it(dsr, operator, backend):
    person = unique("subj")
    for controller in (A, A, B):
        await operator.SubmitRequest(submission(person, controller_id=controller))

    first = await operator.ListRequests(pb.ListRequestsRequest(subject_id=person, controller_id=A, page_size=1))
    second = await operator.ListRequests(pb.ListRequestsRequest(subject_id=person, controller_id=A, page_size=1,
                                                                page_token=first.next_page_token))
    elsewhere = await refused(operator.ListRequests, pb.ListRequestsRequest(
        subject_id=person, controller_id=B, page_size=1, page_token=first.next_page_token))
    unnamed = await refused(operator.ListRequests, pb.ListRequestsRequest(subject_id=person))
    at_b = await listed(operator, person, controller_id=B)

    assert [r.controller_id for r in (*first.requests, *second.requests)] == [A, A]
    assert [r.controller_id for r in at_b] == [B]
    assert field_violations(elsewhere) == [("page_token", "page_token.valid")]
    assert field_violations(unnamed) == [("controller_id", "required")]


@pytest.fixture
async def two_processors(dsr, dsr_admin):
    """A processor of each controller, taking corrections (no other service is asked for those); both
    deregistered afterwards, so no later request waits for their answers."""
    async with correcting_processors(dsr, dsr_admin, {"campus-door": A, "bank-door": B}) as names:
        yield names


async def in_progress(operator, request_id: str) -> pb.Request:
    async with asyncio.timeout(30):
        while True:
            r = (await operator.GetRequest(pb.GetRequestRequest(request_id=request_id))).request
            if r.status != pb.REQUEST_STATUS_VERIFIED and r.tasks:
                return r
            await asyncio.sleep(0.1)


async def corrected(operator, person: str, controller: str) -> pb.Request:
    r = (await operator.SubmitRequest(submission(person, pb.REQUEST_TYPE_CORRECTION, controller_id=controller,
                                                 corrections={"display_name": "Ann Example"}))).request
    await operator.VerifyIdentity(verify(r.request_id))
    return await in_progress(operator, r.request_id)


async def test_a_requests_tasks_reach_its_controllers_processors_only(dsr, operator, two_processors, backend):
    person = unique("subj")
    campus_door, bank_door = dsr("campus-door"), dsr("bank-door")
    registry = {p.name: p.controller_id for p in (await operator.ListProcessors(pb.ListProcessorsRequest())).processors}
    at_b = await corrected(operator, person, B)
    # Presence first: B's processor is sent B's task, and confirms it as its own.
    b_tasks = [t.task_id for t in at_b.tasks]
    bank_confirmed = (await bank_door.ConfirmTasks(pb.ConfirmTasksRequest(task_ids=b_tasks))).tasks
    assert [t.processor for t in at_b.tasks] == ["bank-door"]
    assert [(t.task_id, t.subject_id, t.controller_id) for t in bank_confirmed] == [(b_tasks[0], person, B)]

    at_a = await corrected(operator, person, A)
    a_tasks = {t.processor: t.task_id for t in at_a.tasks}
    bank_confirms_a = (await bank_door.ConfirmTasks(pb.ConfirmTasksRequest(task_ids=list(a_tasks.values())))).tasks
    campus_confirms_b = (await campus_door.ConfirmTasks(pb.ConfirmTasksRequest(task_ids=b_tasks))).tasks
    campus_confirmed = (await campus_door.ConfirmTasks(pb.ConfirmTasksRequest(task_ids=[a_tasks["campus-door"]]))).tasks

    assert (registry["campus-door"], registry["bank-door"]) == (A, B)
    assert "campus-door" in a_tasks and "bank-door" not in a_tasks
    assert {registry.get(name, A) for name in a_tasks} == {A}  # every one of A's processors, no other
    assert list(bank_confirms_a) == [] and list(campus_confirms_b) == []
    assert [(t.subject_id, t.controller_id) for t in campus_confirmed] == [(person, A)]


async def test_a_controllers_client_lists_its_own_processors_only(dsr, operator, two_processors, backend):
    def names(answer) -> dict[str, str]:
        return {p.name: p.controller_id for p in answer.processors}
    everyone = names(await operator.ListProcessors(pb.ListProcessorsRequest()))
    campus = names(await dsr("campus-office").ListProcessors(pb.ListProcessorsRequest()))
    bank = names(await dsr("bank-office").ListProcessors(pb.ListProcessorsRequest()))
    only_b = names(await operator.ListProcessors(pb.ListProcessorsRequest(controller_id=B)))
    naming_a = await refused(dsr("bank-office").ListProcessors, pb.ListProcessorsRequest(controller_id=A))
    first = await operator.ListProcessors(pb.ListProcessorsRequest(page_size=1))  # every controller's
    token_elsewhere = await refused(operator.ListProcessors, pb.ListProcessorsRequest(
        page_size=1, controller_id=B, page_token=first.next_page_token))

    assert everyone["campus-door"] == A and everyone["bank-door"] == B  # both there
    assert "campus-door" in campus and set(campus.values()) == {A}
    assert bank == only_b == {"bank-door": B}
    assert (naming_a.code(), error_info(naming_a).reason) == (grpc.StatusCode.NOT_FOUND, "CONTROLLER_NOT_FOUND")
    assert field_violations(token_elsewhere) == [("page_token", "page_token.valid")]


async def test_an_operator_cannot_register_a_processor(dsr, operator, backend):
    error = await refused(operator.RegisterProcessor, pb.RegisterProcessorRequest(
        capabilities=[pb.CAPABILITY_DELETE]))
    registry = {p.name for p in (await operator.ListProcessors(pb.ListProcessorsRequest())).processors}

    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION and "operator" in error.details()
    assert "operator" not in registry


@pytest.fixture
async def dsr_rows(postgres, dsr_app):
    pool = await asyncpg.create_pool(postgres.dsn("dsr"), min_size=1, max_size=2)
    yield pool
    await pool.close()


async def test_an_operator_naming_no_controller_is_refused_and_nothing_is_stored(dsr, operator, dsr_rows, backend):
    person = unique("subj")
    stored = "SELECT count(*) FROM requests WHERE subject_id = $1"

    error = await refused(operator.SubmitRequest, submission(person, controller_id=""))
    before = await dsr_rows.fetchval(stored, person)
    named = (await operator.SubmitRequest(submission(person, controller_id=B))).request  # presence, once named
    other = await refused(dsr("bank-office").SubmitRequest, submission(person, controller_id=A))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(error) == [("controller_id", "required")]
    assert before == 0 and await dsr_rows.fetchval(stored, person) == 1 and named.controller_id == B
    assert (other.code(), error_info(other).reason) == (grpc.StatusCode.NOT_FOUND, "CONTROLLER_NOT_FOUND")


async def test_a_request_for_another_controllers_purpose_is_for_no_purpose(admin, consent_admin, operator, backend):
    await registered_controller(consent_admin, B)
    theirs = (await registered_purpose(admin, controller_id=B)).purpose_id
    ours = (await registered_purpose(admin)).purpose_id
    person = unique("subj")

    accepted = (await operator.SubmitRequest(submission(person, pb.REQUEST_TYPE_WITHDRAWAL, purpose_id=ours,
                                                        controller_id=A))).request
    error = await refused(operator.SubmitRequest, submission(person, pb.REQUEST_TYPE_WITHDRAWAL, purpose_id=theirs,
                                                             controller_id=A))

    assert accepted.purpose_id == ours
    assert field_violations(error) == [("purpose_id", "purpose.exists")]


async def test_dsr_forgets_a_person_deleted_at_one_controller_there_only(operator, dsr_rows, backend):
    person = unique("subj")
    at_b = (await operator.SubmitRequest(submission(person, pb.REQUEST_TYPE_ACCESS, controller_id=B))).request
    await operator.RejectRequest(pb.RejectRequestRequest(  # settled, as a deletion's forgetting takes them
        request_id=at_b.request_id, idempotency_key=unique("idem"), reason=pb.RejectionReason(
            code="manifestly-unfounded", explanation="the fifth this week", complaint_route="the DPA")))
    r = (await operator.SubmitRequest(submission(person, controller_id=A))).request
    await operator.VerifyIdentity(verify(r.request_id))

    done = await settled(operator, r.request_id, timeout=60)
    rows = {row["controller_id"]: row["subject_id"] for row in await dsr_rows.fetch(
        "SELECT controller_id, subject_id FROM requests WHERE request_id = ANY($1::text[])",
        [r.request_id, at_b.request_id])}
    still_b = await listed(operator, person, controller_id=B)
    erased_a = await listed(operator, person, controller_id=A)

    assert done.status == pb.REQUEST_STATUS_COMPLETED
    assert rows[A].startswith("erased:") and person not in rows[A] and rows[B] == person
    assert [(x.request_id, x.subject_id) for x in still_b] == [(at_b.request_id, person)]
    assert [x.request_id for x in erased_a] == [r.request_id] and erased_a[0].subject_id == rows[A]


async def test_a_deletion_at_one_controller_leaves_the_persons_consent_and_key_at_the_other(
        admin, consent_admin, gate, face, kv_admin, operator, backend):
    await registered_controller(consent_admin, B)
    ours, theirs = (await registered_purpose(admin)).purpose_id, (await registered_purpose(admin, controller_id=B)).purpose_id
    person = unique("subj")
    await gate.GrantConsent(grant(person, ours))
    await admin.GrantConsent(grant(person, theirs))
    await face.GenerateDataKey(kpb.GenerateDataKeyRequest(subject_id=person, purpose_id=ours))
    await kv_admin.GenerateDataKey(kpb.GenerateDataKeyRequest(subject_id=person, purpose_id=theirs, controller_id=B))
    at_b_before = await admin.CheckConsent(pb_check(person, theirs, B))
    key_b_before = await kv_admin.GetKeyStatus(kpb.GetKeyStatusRequest(subject_id=person, controller_id=B))

    r = (await operator.SubmitRequest(submission(person, controller_id=A))).request
    await operator.VerifyIdentity(verify(r.request_id))
    done = await settled(operator, r.request_id, timeout=60)

    at_a = await gate.CheckConsent(check(person, ours))
    at_b = await admin.CheckConsent(pb_check(person, theirs, B))
    key_a = await kv_admin.GetKeyStatus(kpb.GetKeyStatusRequest(subject_id=person, controller_id=A))
    key_b = await kv_admin.GetKeyStatus(kpb.GetKeyStatusRequest(subject_id=person, controller_id=B))
    assert (at_b_before.decision, key_b_before.state) == (cpb.DECISION_ALLOW, kpb.KEY_STATE_ACTIVE)
    assert done.status == pb.REQUEST_STATUS_COMPLETED and done.controller_id == A
    assert cpb.DenyReason.Name(at_a.reason) == "DENY_REASON_SUBJECT_ERASED" and key_a.state == kpb.KEY_STATE_SHREDDED
    assert at_b.decision == cpb.DECISION_ALLOW and key_b.state == kpb.KEY_STATE_ACTIVE


def pb_check(subject: str, purpose: str, controller: str) -> cpb.CheckConsentRequest:
    return cpb.CheckConsentRequest(subject_id=subject, purpose_id=purpose, controller_id=controller)


async def test_a_requests_events_carry_its_controller_on_the_envelope(operator, dsr_rows, backend):
    person = unique("subj")
    await operator.SubmitRequest(submission(person, controller_id=A))
    await operator.SubmitRequest(submission(person, controller_id=B))

    rows = await dsr_rows.fetch("SELECT controller_id, count(*) AS events FROM outbox WHERE subject_id = $1"
                                " GROUP BY controller_id ORDER BY controller_id", person)

    # Each request's events under its own controller (which picks the event key, and the envelope's
    # controller_id); none without one.
    assert [(r["controller_id"], r["events"] > 0) for r in rows] == sorted([(A, True), (B, True)])


async def opened(operator, person: str, controller_id: str) -> list[pb.Request]:
    """The person's requests at the controller, once there is one."""
    async with asyncio.timeout(30):
        while True:
            found = await listed(operator, person, controller_id=controller_id)
            if found:
                return found
            await asyncio.sleep(0.2)


async def test_a_withdrawal_of_a_purpose_id_two_controllers_use_opens_a_request_at_its_own_controller_only(
        admin, consent_admin, gate, operator, backend):
    await registered_controller(consent_admin, B)
    shared = unique("gate-access")
    for controller_id in (A, B):
        await registered_purpose(admin, purpose_id=shared, controller_id=controller_id)
    person = unique("subj")
    await gate.GrantConsent(grant(person, shared))
    await admin.GrantConsent(grant(person, shared, controller_id=B))

    await gate.WithdrawConsent(cpb.WithdrawConsentRequest(
        subject_id=person, purpose_id=shared, actor=cpb.Actor(kind=cpb.ACTOR_KIND_SUBJECT), idempotency_key=unique("wd")))
    at_a = await opened(operator, person, A)

    assert [(r.type, r.purpose_id) for r in at_a] == [(pb.REQUEST_TYPE_WITHDRAWAL, shared)]
    assert await listed(operator, person, controller_id=B) == []
    assert (await admin.CheckConsent(pb_check(person, shared, B))).decision == cpb.DECISION_ALLOW

    await admin.WithdrawConsent(cpb.WithdrawConsentRequest(
        subject_id=person, purpose_id=shared, controller_id=B, actor=cpb.Actor(kind=cpb.ACTOR_KIND_SUBJECT),
        idempotency_key=unique("wd")))
    at_b = await opened(operator, person, B)
    assert [(r.type, r.purpose_id, r.controller_id) for r in at_b] == [(pb.REQUEST_TYPE_WITHDRAWAL, shared, B)]
