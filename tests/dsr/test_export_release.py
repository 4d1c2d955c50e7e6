"""An access request's export is held for staff to review: a client acting for the person (the portal)
gets it only once staff released it, and until then the request is unanswered, overdue past its
deadline. A release happens once, of a finished export only, and is recorded. The retention of a
settled request's export counts from its release: a held one is never forgotten unseen."""

import asyncio
import json
from datetime import timedelta

import grpc
import pytest

from consentry.audit.v1 import audit_pb2 as apb
from consentry.dsr.v1 import dsr_pb2 as pb
from consentry_client import error_info
from services.dsr.app import units_of_work
from services.dsr.service.forgetting import forget_settled
from tests.consent.builders import registered_controller
from tests.dsr.test_requests import settled, submission, verify
from tests.keyvault.test_data_keys import consented, refused
from tests.support import unique

pytestmark = pytest.mark.parametrize("backend", ["wrapped"], indirect=True, scope="session")


async def finished_access(operator, consent_admin) -> tuple[str, str, pb.Request]:
    """A person's access request, carried out: at a controller of its own, so no face system another test
    registered (and stopped) holds it up. (controller, subject, the request)"""
    controller = (await registered_controller(consent_admin, unique("desk"))).controller_id
    subject = unique("subj")
    access = (await operator.SubmitRequest(submission(subject, pb.REQUEST_TYPE_ACCESS,
                                                      controller_id=controller))).request
    await operator.VerifyIdentity(verify(access.request_id))
    return controller, subject, await settled(operator, access.request_id)


def release(request_id: str, note: str = "") -> pb.ReleaseExportRequest:
    return pb.ReleaseExportRequest(request_id=request_id, note=note, idempotency_key=unique("idem"))


async def released_entries(dpo, controller: str) -> list[dict]:
    """The controller's dsr.request.export_released entries, once the log has taken one in."""
    async with asyncio.timeout(20):
        while True:
            page = await dpo.QueryEvents(apb.QueryEventsRequest(filter=apb.EventFilter(
                type="dsr.request.export_released", controller_id=controller)))
            if page.entries:
                return [json.loads(e.entry_json) for e in page.entries]
            await asyncio.sleep(0.2)


async def overdue_ids(operator, controller: str) -> set[str]:
    found = await operator.ListRequests(pb.ListRequestsRequest(overdue_only=True, controller_id=controller))
    return {r.request_id for r in found.requests}


async def test_the_person_is_given_the_export_only_once_staff_released_it(
        consent_admin, operator, dsr, dsr_dpo, postgres, backend):
    portal = dsr("portal")
    controller, subject, access = await finished_access(operator, consent_admin)
    done = access
    postgres.execute("UPDATE requests SET due_at = now() - interval '1 day' WHERE request_id = $1",  # it passed
                     access.request_id, database="dsr")                                             # while held
    asked = pb.GetExportRequest(request_id=access.request_id)

    held = await refused(portal.GetExport, asked)
    reviewed = await operator.GetExport(asked)
    overdue_while_held = access.request_id in await overdue_ids(operator, controller)
    released = (await operator.ReleaseExport(release(access.request_id, "checked: nothing of others"))).request
    given = await portal.GetExport(asked)
    overdue_once_given = access.request_id in await overdue_ids(operator, controller)
    again = await refused(operator.ReleaseExport, release(access.request_id))
    recorded = await released_entries(dsr_dpo, controller)

    assert done.status == pb.REQUEST_STATUS_COMPLETED and not done.HasField("export_released_at")
    assert held.code() == grpc.StatusCode.FAILED_PRECONDITION and error_info(held).reason == "EXPORT_NOT_RELEASED"
    assert subject in reviewed.export_json.decode()
    assert overdue_while_held and not overdue_once_given
    assert released.HasField("export_released_at")
    assert released.timeline[-1].note == "export released to the person: checked: nothing of others"
    assert given.export_json == reviewed.export_json
    assert again.code() == grpc.StatusCode.FAILED_PRECONDITION and error_info(again).reason == "EXPORT_RELEASE_REFUSED"
    assert "was released at" in again.details()
    assert [e["payload"]["requestId"] for e in recorded] == [access.request_id]


async def test_only_a_finished_export_is_released(admin, gate, operator, backend):
    subject, _ = await consented(admin, gate)
    unverified = (await operator.SubmitRequest(submission(subject, pb.REQUEST_TYPE_ACCESS))).request
    deletion = (await operator.SubmitRequest(submission(unique("subj")))).request

    early = await refused(operator.ReleaseExport, release(unverified.request_id))
    no_export = await refused(operator.ReleaseExport, release(deletion.request_id))
    unknown = await refused(operator.ReleaseExport, release("no-such-request"))
    bad = await refused(operator.ReleaseExport, pb.ReleaseExportRequest(request_id=unverified.request_id,
                                                                        note="x" * 2001))
    after = (await operator.GetRequest(pb.GetRequestRequest(request_id=unverified.request_id))).request

    assert early.code() == no_export.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "not written yet" in early.details() and "has no export" in no_export.details()
    assert unknown.code() == grpc.StatusCode.NOT_FOUND
    assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {*error_info(bad).metadata["fields"].split(",")} == {"note", "idempotency_key"}
    assert not after.HasField("export_released_at") and after.timeline == unverified.timeline


async def test_a_held_export_outlives_the_retention_until_it_is_released(consent_admin, operator, dsr_rows, backend):
    _, _, access = await finished_access(operator, consent_admin)
    kept = "SELECT export_json IS NOT NULL FROM requests WHERE request_id = $1"

    await forget_settled(units_of_work(dsr_rows), timedelta(0))  # every settled request's retention passed
    held_after_sweep = await dsr_rows.fetchval(kept, access.request_id)
    await operator.ReleaseExport(release(access.request_id))
    await forget_settled(units_of_work(dsr_rows), timedelta(hours=1))  # an hour is not yet over since the release
    released_after_sweep = await dsr_rows.fetchval(kept, access.request_id)
    await forget_settled(units_of_work(dsr_rows), timedelta(0))
    forgotten = await dsr_rows.fetchval(kept, access.request_id)

    assert held_after_sweep and released_after_sweep and not forgotten
