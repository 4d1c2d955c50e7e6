"""The console over HTTP: accounts made by an operator only, each field checked; sign-in needs the
password and a fresh code, and five failures lock the account; a DPO sees and decides their own
controller's requests only, an auditor changes nothing, a forged form changes nothing; every change is
in the audit log, naming who made it, before it is made."""

import asyncio
import json
import uuid

import grpc
import pytest

from consentry.audit.v1 import audit_pb2 as apb
from consentry.dsr.v1 import dsr_pb2 as pb
from consentry.portal.v1 import portal_admin_pb2 as admin_pb
from consentry_client import error_info
from services.common.grpc_errors import field_violations
from tests.consent.builders import CONTROLLER, OTHER_CONTROLLER
from tests.dsr.test_requests import settled, submission
from tests.keyvault.test_data_keys import refused
from services.portal.app import PortalApp
from services.portal.domain.sign_in import secret_hash
from tests.portal.fixtures import BACKEND, portal_settings
from tests.portal.staff import Staff, staff_account
from tests.support import unique

pytestmark = BACKEND


@pytest.fixture
async def staff(portal_app):
    """A new staff member's browser each call; all closed after the test."""
    opened = []

    def new() -> Staff:
        opened.append(Staff(f"http://127.0.0.1:{portal_app.http_port}"))
        return opened[-1]
    yield new
    for browser in opened:
        await browser.close()


@pytest.fixture
def portal_admin(connect_portal_admin):
    return connect_portal_admin("admin")


async def status_of(operator, request_id: str) -> int:
    return (await operator.GetRequest(pb.GetRequestRequest(request_id=request_id))).request.status


async def recorded(audit, event_type: str, controller: str, request_id: str) -> dict:
    """The console's entry about the request, once the log has taken it in."""
    async with asyncio.timeout(20):
        while True:
            page = await audit("dpo").QueryEvents(apb.QueryEventsRequest(
                filter=apb.EventFilter(type=event_type, controller_id=controller), page_size=1000))
            for entry in page.entries:
                body = json.loads(entry.entry_json)
                if body["payload"]["attributes"].get("request") == request_id:
                    return body
            await asyncio.sleep(0.2)


async def test_accounts_are_made_by_an_operator_alone_and_each_field_is_checked(connect_portal_admin, portal_admin):
    bad = await refused(portal_admin.CreateStaffAccount, admin_pb.CreateStaffAccountRequest(
        name="Not A Name", password="short"))
    dpo_alone = await refused(portal_admin.CreateStaffAccount, admin_pb.CreateStaffAccountRequest(
        name=unique("dpo"), role=admin_pb.STAFF_ROLE_DPO, password=unique("pass-phrase")))
    operator_of_one = await refused(portal_admin.CreateStaffAccount, admin_pb.CreateStaffAccountRequest(
        name=unique("op"), role=admin_pb.STAFF_ROLE_OPERATOR, controller_id=CONTROLLER, password=unique("pass-phrase")))
    nowhere = await refused(portal_admin.CreateStaffAccount, admin_pb.CreateStaffAccountRequest(
        name=unique("dpo"), role=admin_pb.STAFF_ROLE_DPO, controller_id=unique("no-such-controller"),
        password=unique("pass-phrase")))
    by_a_gate = await refused(connect_portal_admin("gate-app").CreateStaffAccount, admin_pb.CreateStaffAccountRequest(
        name=unique("dpo"), role=admin_pb.STAFF_ROLE_DPO, controller_id=CONTROLLER, password=unique("pass-phrase")))
    made = await staff_account(portal_admin, "dpo", CONTROLLER)
    again = await refused(portal_admin.CreateStaffAccount, admin_pb.CreateStaffAccountRequest(
        name=made.name, role=admin_pb.STAFF_ROLE_AUDITOR, password=unique("pass-phrase")))

    assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {field for field, _ in field_violations(bad)} == {"name", "role", "password"}
    assert [field for field, _ in field_violations(dpo_alone)] == ["controller_id"]
    assert [field for field, _ in field_violations(operator_of_one)] == ["controller_id"]
    assert (nowhere.code(), error_info(nowhere).reason) == (grpc.StatusCode.NOT_FOUND, "CONTROLLER_NOT_FOUND")
    assert by_a_gate.code() == grpc.StatusCode.PERMISSION_DENIED
    assert (again.code(), error_info(again).reason) == (grpc.StatusCode.ALREADY_EXISTS, "STAFF_ACCOUNT_EXISTS")
    assert made.totp.issuer == "Consentry" and len(made.code()) == 6


async def test_signing_in_needs_the_password_and_a_code_used_once(staff, portal_admin):
    account = await staff_account(portal_admin, "dpo", CONTROLLER)
    wrong_password = await staff().sign_in(account, password=account.password + "x")
    wrong_code = await staff().sign_in(account, code=f"{(int(account.code()) + 1) % 1_000_000:06d}")
    browser, code = staff(), account.code()
    right = await browser.sign_in(account, code=code)
    queue = await browser.get("/console/requests")
    replayed = await staff().sign_in(account, code=code)  # the same code, a moment later, from elsewhere

    assert (wrong_password.status_code, wrong_code.status_code) == (401, 401)
    assert "wrong" in wrong_password.text and "staff" not in wrong_password.cookies
    assert (right.status_code, right.headers["location"]) == (303, "/console/requests")
    assert queue.status_code == 200 and account.name in queue.text
    assert replayed.status_code == 401


async def test_five_failures_lock_the_account_and_an_unknown_name_reads_the_same(staff, portal_admin):
    account = await staff_account(portal_admin, "dpo", CONTROLLER)
    for _ in range(5):
        assert (await staff().sign_in(account, password="not the password")).status_code == 401
    locked = await staff().sign_in(account)
    unknown = await staff().sign_in(type(account)(unique("nobody"), account.password, account.totp.provisioning_uri()))

    assert (locked.status_code, unknown.status_code) == (401, 401)
    assert _message(locked.text) == _message(unknown.text)


async def test_a_disabled_account_is_signed_out_and_signs_in_no_more_until_enabled(staff, portal_admin, postgres):
    account = await staff_account(portal_admin, "dpo", CONTROLLER)
    browser = await staff().signed_in(account)
    secret = browser.http.cookies["staff"]
    before = await browser.get("/console/requests")

    disabled = await portal_admin.DisableStaffAccount(admin_pb.DisableStaffAccountRequest(name=account.name))
    after = await browser.get("/console/requests")
    refused_sign_in = await staff().sign_in(account, code=account.code(steps_ahead=1))
    unknown = await staff().sign_in(type(account)(unique("nobody"), account.password, account.totp.provisioning_uri()))
    # A sign-in that read the account just before it was disabled opens its session just after.
    await asyncio.to_thread(
        postgres.execute, "INSERT INTO staff_sessions (session_hash, account, last_seen_at, expires_at)"
        " VALUES ($1, $2, now(), now() + interval '1 hour')", secret_hash(secret), account.name, database="portal")
    raced = await browser.get("/console/requests")
    again = await portal_admin.DisableStaffAccount(admin_pb.DisableStaffAccountRequest(name=account.name))
    enabled = await portal_admin.EnableStaffAccount(admin_pb.EnableStaffAccountRequest(name=account.name))
    back = await staff().sign_in(account, code=account.code(steps_ahead=1))
    enabled_again = await portal_admin.EnableStaffAccount(admin_pb.EnableStaffAccountRequest(name=account.name))

    assert before.status_code == 200 and account.name in before.text
    assert (disabled.disabled_now, disabled.sessions_ended) == (True, 1)
    assert (after.status_code, after.headers["location"]) == (303, "/console/sign-in")
    assert refused_sign_in.status_code == 401 and _message(refused_sign_in.text) == _message(unknown.text)
    assert (raced.status_code, raced.headers["location"]) == (303, "/console/sign-in")
    assert (again.disabled_now, again.sessions_ended) == (False, 1)  # the raced session, ended too
    assert enabled.enabled_now and not enabled_again.enabled_now
    assert (back.status_code, back.headers["location"]) == (303, "/console/requests")


async def test_enabling_lifts_a_lock_and_only_an_operator_disables_or_enables_a_named_account(
        staff, portal_admin, connect_portal_admin, audit):
    account = await staff_account(portal_admin, "dpo", CONTROLLER)
    for _ in range(5):
        assert (await staff().sign_in(account, password="not the password")).status_code == 401
    locked = await staff().sign_in(account)
    unlocked = await portal_admin.EnableStaffAccount(admin_pb.EnableStaffAccountRequest(name=account.name))
    signed_in = await staff().sign_in(account, code=account.code(steps_ahead=1))
    unknown = await refused(portal_admin.DisableStaffAccount, admin_pb.DisableStaffAccountRequest(name=unique("nobody")))
    not_a_name = await refused(portal_admin.EnableStaffAccount, admin_pb.EnableStaffAccountRequest(name="Not A Name"))
    by_a_gate = await refused(connect_portal_admin("gate-app").DisableStaffAccount,
                              admin_pb.DisableStaffAccountRequest(name=account.name))
    by_a_dpo = await staff().signed_in(await staff_account(portal_admin, "dpo", CONTROLLER))
    still_in = await by_a_dpo.get("/console/requests")

    assert locked.status_code == 401 and unlocked.enabled_now
    assert (signed_in.status_code, signed_in.headers["location"]) == (303, "/console/requests")
    assert (unknown.code(), error_info(unknown).reason) == (grpc.StatusCode.NOT_FOUND, "STAFF_ACCOUNT_NOT_FOUND")
    assert not_a_name.code() == grpc.StatusCode.INVALID_ARGUMENT and field_violations(not_a_name)[0][0] == "name"
    assert by_a_gate.code() == grpc.StatusCode.PERMISSION_DENIED
    assert still_in.status_code == 200  # the gate's attempt changed nothing
    asked = await _staff_entries(audit, "console.account_enabling_asked", account.name)
    assert [(e["payload"]["attributes"]["actor"], e["payload"]["attributes"]["role"]) for e in asked] == \
        [("admin", "operator")]


async def _staff_entries(audit, event_type: str, account: str) -> list[dict]:
    """The log's entries of that type about the account, once it has taken one in."""
    async with asyncio.timeout(20):
        while True:
            page = await audit("dpo").QueryEvents(apb.QueryEventsRequest(
                filter=apb.EventFilter(type=event_type), page_size=1000))
            found = [body for body in (json.loads(e.entry_json) for e in page.entries)
                     if body["payload"]["attributes"].get("target_account") == account]
            if found:
                return found
            await asyncio.sleep(0.2)


def _message(html: str) -> str:
    return html.split('role="alert">', 1)[1].split("</p>", 1)[0]


async def test_a_dpo_sees_and_decides_their_own_controllers_requests_only(staff, portal_admin, operator, audit):
    ours = (await operator.SubmitRequest(submission(unique("subj"), pb.REQUEST_TYPE_ACCESS, jurisdiction="CN"))).request
    theirs = (await operator.SubmitRequest(submission(unique("subj"), pb.REQUEST_TYPE_ACCESS, jurisdiction="CN",
                                                      controller_id=OTHER_CONTROLLER))).request
    account = await staff_account(portal_admin, "dpo", CONTROLLER)
    dpo = await staff().signed_in(account)

    hidden = (await dpo.get("/console/requests?type=access&jurisdiction=CN")).text
    shown = (await dpo.get("/console/requests?type=access&jurisdiction=CN&unverified=1")).text
    other_page = await dpo.get(f"/console/requests/{theirs.request_id}")
    form = await dpo.form(f"/console/requests/{ours.request_id}")
    other_verify = await dpo.post(f"/console/requests/{theirs.request_id}/verify", form)
    verified = await dpo.post(f"/console/requests/{ours.request_id}/verify", {**form, "note": "passport seen"})
    entry = await recorded(audit, "console.identity_verification_asked", CONTROLLER, ours.request_id)

    assert ours.request_id not in hidden  # unverified requests are hidden unless asked for
    assert ours.request_id in shown and theirs.request_id not in shown
    assert (other_page.status_code, other_verify.status_code) == (404, 404)
    assert await status_of(operator, theirs.request_id) == theirs.status
    assert verified.status_code == 303
    assert await status_of(operator, ours.request_id) not in (pb.REQUEST_STATUS_RECEIVED,
                                                              pb.REQUEST_STATUS_VERIFICATION_PENDING)
    assert entry["producer"] == "console" and entry["controllerId"] == CONTROLLER and entry["subjectRef"]
    assert {k: entry["payload"]["attributes"][k] for k in ("actor", "role")} == {"actor": account.name, "role": "dpo"}


async def test_an_auditor_reads_and_changes_nothing(staff, portal_admin, operator):
    request = (await operator.SubmitRequest(submission(unique("subj"), pb.REQUEST_TYPE_DELETION, jurisdiction="CN"))
               ).request
    auditor = await staff().signed_in(await staff_account(portal_admin, "auditor", CONTROLLER))

    page = await auditor.get(f"/console/requests/{request.request_id}")
    form = await auditor.form(f"/console/requests/{request.request_id}")
    answers = [await auditor.post(f"/console/requests/{request.request_id}/{action}", {**form, **fields})
               for action, fields in (("verify", {}), ("extend", {"reason": "complex"}),
                                      ("reject", {"code": "excessive", "explanation": "no", "route": "CAC"}))]

    assert page.status_code == 200 and request.request_id in page.text and "/verify" not in page.text
    assert [a.status_code for a in answers] == [403, 403, 403]
    assert await status_of(operator, request.request_id) == request.status


async def test_a_forged_form_changes_nothing(staff, portal_admin, operator):
    request = (await operator.SubmitRequest(submission(unique("subj"), pb.REQUEST_TYPE_ACCESS, jurisdiction="CN"))
               ).request
    dpo = await staff().signed_in(await staff_account(portal_admin, "dpo", CONTROLLER))
    form = await dpo.form(f"/console/requests/{request.request_id}")

    forged = await dpo.post(f"/console/requests/{request.request_id}/verify", {**form, "csrf": "0" * 64})
    bare = await dpo.post(f"/console/requests/{request.request_id}/verify", {})
    signed_out = await Staff(str(dpo.http.base_url)).post(f"/console/requests/{request.request_id}/verify", form)

    assert (forged.status_code, bare.status_code) == (403, 403)
    assert (signed_out.status_code, signed_out.headers["location"]) == (303, "/console/sign-in")
    assert await status_of(operator, request.request_id) == request.status


async def test_the_queue_filters_by_type_jurisdiction_and_processor_at_dsr(operator):
    person = unique("subj")
    access = (await operator.SubmitRequest(submission(person, pb.REQUEST_TYPE_ACCESS, jurisdiction="CN"))).request
    deletion = (await operator.SubmitRequest(submission(person, pb.REQUEST_TYPE_DELETION, jurisdiction="DE"))).request

    async def ids(**fields) -> set[str]:
        listed = await operator.ListRequests(pb.ListRequestsRequest(subject_id=person, controller_id=CONTROLLER,
                                                                    **fields))
        return {r.request_id for r in listed.requests}
    everything, by_type, by_place = await ids(), await ids(type=pb.REQUEST_TYPE_DELETION), await ids(jurisdiction="CN")
    by_processor = await ids(processor=unique("no-such-processor"))
    bad = await refused(operator.ListRequests, pb.ListRequestsRequest(jurisdiction="china", processor="a b", type=99))

    assert everything == {access.request_id, deletion.request_id}
    assert (by_type, by_place, by_processor) == ({deletion.request_id}, {access.request_id}, set())
    assert {field for field, _ in field_violations(bad)} == {"jurisdiction", "processor", "type"}


async def test_only_the_console_appends_staff_events_and_it_appends_nothing_else(audit):
    def event(kind: str, subject: str = "") -> apb.FaceSystemEvent:
        e = apb.FaceSystemEvent(event_id=str(uuid.uuid4()), type=kind, subject_id=subject)
        e.occurred_at.GetCurrentTime()
        return e
    forged = await refused(audit("face-app").Append, apb.AppendRequest(events=[event("console.identity_verification_asked",
                                                                                     "someone")]))
    faced = await refused(audit("console").Append, apb.AppendRequest(events=[event("face.enrolled", "someone")]))
    nobodys = await refused(audit("console").Append, apb.AppendRequest(events=[event("console.x", "someone")]))
    taken = await audit("console").Append(apb.AppendRequest(events=[event("console.signed_in")]))

    assert [field for field, _ in field_violations(forged)] == ["events[0].type"]
    assert "events[0].type" in {field for field, _ in field_violations(faced)}
    assert [field for field, _ in field_violations(nobodys)] == ["controller_id"]
    assert taken.accepted == 1


async def test_the_deadline_can_be_extended_only_where_the_law_allows_it(staff, portal_admin, operator):
    under_gdpr = (await operator.SubmitRequest(submission(unique("subj"), pb.REQUEST_TYPE_ACCESS, jurisdiction="DE"))
                  ).request
    under_pipl = (await operator.SubmitRequest(submission(unique("subj"), pb.REQUEST_TYPE_ACCESS, jurisdiction="CN"))
                  ).request
    dpo = await staff().signed_in(await staff_account(portal_admin, "dpo", CONTROLLER))

    gdpr_page = (await dpo.get(f"/console/requests/{under_gdpr.request_id}")).text
    pipl_page = (await dpo.get(f"/console/requests/{under_pipl.request_id}")).text
    form = await dpo.form(f"/console/requests/{under_gdpr.request_id}")
    extended = await dpo.post(f"/console/requests/{under_gdpr.request_id}/extend", {**form, "reason": "many systems"})
    after = (await dpo.get(f"/console/requests/{under_gdpr.request_id}")).text
    pipl_form = await dpo.form(f"/console/requests/{under_pipl.request_id}")  # its other forms' fresh key
    refused_pipl = await dpo.post(f"/console/requests/{under_pipl.request_id}/extend", {**pipl_form, "reason": "x"})

    assert (under_gdpr.extendable, under_pipl.extendable) == (True, False)
    assert "/extend" in gdpr_page and "/extend" not in pipl_page
    assert extended.status_code == 303 and "/extend" not in after and "many systems" in after
    assert refused_pipl.status_code == 409 and "EXTENSION_REFUSED" in refused_pipl.text


async def test_an_export_is_reviewed_and_released_to_the_person_by_a_dpo_not_an_auditor(
        staff, portal_admin, operator, audit):
    request = (await operator.SubmitRequest(submission(unique("subj"), pb.REQUEST_TYPE_ACCESS, jurisdiction="CN"))
               ).request
    await operator.VerifyIdentity(pb.VerifyIdentityRequest(request_id=request.request_id, verified=True,
                                                           idempotency_key=unique("idem")))
    await settled(operator, request.request_id, timeout=60)
    path = f"/console/requests/{request.request_id}"
    auditor = await staff().signed_in(await staff_account(portal_admin, "auditor", CONTROLLER))
    dpo = await staff().signed_in(await staff_account(portal_admin, "dpo", CONTROLLER))

    held = (await dpo.get(path)).text
    queued = (await dpo.get("/console/requests?type=access&jurisdiction=CN")).text
    by_auditor = await auditor.post(f"{path}/release", {**await auditor.form(path), "note": "looks fine"})
    still_held = (await operator.GetRequest(pb.GetRequestRequest(request_id=request.request_id))).request
    reviewed = await dpo.get(f"{path}/export.json")
    released = await dpo.post(f"{path}/release", {**await dpo.form(path), "note": "checked: the person's data only"})
    after = (await operator.GetRequest(pb.GetRequestRequest(request_id=request.request_id))).request
    page = (await dpo.get(path)).text
    entry = await recorded(audit, "console.export_release_asked", CONTROLLER, request.request_id)

    assert "Held for review" in held and f"{path}/release" in held
    assert "export held for review" in queued.split(request.request_id, 1)[1].split("</tr>", 1)[0]
    assert by_auditor.status_code == 403 and not still_held.HasField("export_released_at")
    assert reviewed.status_code == 200 and json.loads(reviewed.text)["requestId"] == request.request_id
    assert released.status_code == 303 and after.HasField("export_released_at")
    assert after.timeline[-1].note == "export released to the person: checked: the person's data only"
    assert "Released to the person" in page and f"{path}/release" not in page
    assert entry["payload"]["attributes"]["role"] == "dpo"


@pytest.fixture(scope="module")
async def unrecorded_portal(run_dir, postgres, dev_ca, consent_app, dsr_app, portal_app):
    """A replica whose console identity dsr lets decide requests but the audit log does not know: nothing
    it asks can be recorded first."""
    settings = portal_settings(run_dir, postgres, dev_ca, consent_app, dsr_app)
    unknown = dev_ca.issue_client("console-unrecorded")
    settings.console = settings.console.model_copy(update={"tls_cert": unknown.cert, "tls_key": unknown.key})
    app = PortalApp(settings)
    await app.start()
    yield app
    await app.stop()


async def test_a_change_the_audit_log_cannot_record_is_not_made(unrecorded_portal, staff, portal_admin, operator):
    request = (await operator.SubmitRequest(submission(unique("subj"), pb.REQUEST_TYPE_ACCESS, jurisdiction="DE"))
               ).request
    account = await staff_account(portal_admin, "dpo", CONTROLLER)
    elsewhere = Staff(f"http://127.0.0.1:{unrecorded_portal.http_port}")
    try:
        elsewhere.cookies = (await staff().signed_in(account)).cookies  # the session, from a replica that records
        page = await elsewhere.get(f"/console/requests/{request.request_id}")  # reading needs no record
        form = await elsewhere.form(f"/console/requests/{request.request_id}")
        answers = [await elsewhere.post(f"/console/requests/{request.request_id}/{action}", {**form, **fields})
                   for action, fields in (("verify", {}), ("extend", {"reason": "many systems"}))]
    finally:
        await elsewhere.close()
    after = (await operator.GetRequest(pb.GetRequestRequest(request_id=request.request_id))).request

    assert page.status_code == 200 and "/verify" in page.text
    assert [a.status_code for a in answers] == [409, 409]
    assert (after.status, after.extended) == (request.status, False)
