"""What dsr forgets of a person: everything that identifies them once their deletion completed (the
requests then name them by the keyed tombstone only, and can still be found by their id), and a
settled request's evidence, corrections and export once its retention passed."""

from datetime import timedelta

import asyncpg
import grpc
import pytest

from consentry.dsr.v1 import dsr_pb2 as pb
from services.dsr.app import units_of_work
from services.dsr.service.forgetting import forget_settled
from tests.consent.builders import registered_controller
from tests.dsr.test_requests import settled, submission, verify
from tests.keyvault.test_data_keys import refused
from tests.support import unique

pytestmark = pytest.mark.parametrize("backend", ["wrapped"], indirect=True, scope="session")


async def _row(pool: asyncpg.Pool, request_id: str) -> asyncpg.Record:
    return await pool.fetchrow("SELECT subject_id, evidence_ref, corrections::text, export_json IS NOT NULL AS export"
                               " FROM requests WHERE request_id = $1", request_id)


async def _desk(consent_admin) -> str:
    """A controller of the test's own: no face system another test registered (and stopped) holds its
    requests up."""
    return (await registered_controller(consent_admin, unique("desk"))).controller_id


async def _completed(operator, kind: int, subject: str, controller: str, **fields) -> pb.Request:
    r = (await operator.SubmitRequest(submission(subject, kind, controller_id=controller, **fields))).request
    await operator.VerifyIdentity(verify(r.request_id))
    done = await settled(operator, r.request_id)
    assert done.status == pb.REQUEST_STATUS_COMPLETED, done
    return done


async def test_a_completed_deletion_leaves_the_person_only_as_a_tombstone_still_found_by_their_id(
        consent_admin, operator, dsr_rows, backend):
    subject, controller = unique("subj"), await _desk(consent_admin)
    access = await _completed(operator, pb.REQUEST_TYPE_ACCESS, subject, controller)
    before = await _row(dsr_rows, access.request_id)

    deletion = await _completed(operator, pb.REQUEST_TYPE_DELETION, subject, controller)

    after = {r: await _row(dsr_rows, r) for r in (access.request_id, deletion.request_id)}
    found = (await operator.ListRequests(pb.ListRequestsRequest(controller_id=controller, subject_id=subject))).requests
    export = await refused(operator.GetExport, pb.GetExportRequest(request_id=access.request_id))
    assert before["subject_id"] == subject and before["evidence_ref"] and before["export"]  # there to forget
    for row in after.values():
        assert row["subject_id"].startswith("erased:") and subject not in row["subject_id"]
        assert (row["evidence_ref"], row["corrections"], row["export"]) == ("", "{}", False)
    assert {r.request_id for r in found} == set(after) and all(r.subject_id.startswith("erased:") for r in found)
    assert export.code() == grpc.StatusCode.FAILED_PRECONDITION and "retention" in export.details()


async def test_a_settled_requests_evidence_and_corrections_go_after_the_retention_and_an_open_one_keeps_them(
        consent_admin, operator, dsr_rows, backend):
    subject, controller = unique("subj"), await _desk(consent_admin)
    correction = await _completed(operator, pb.REQUEST_TYPE_CORRECTION, subject, controller,
                                  corrections={"display_name": "Li Wei"})
    waiting = (await operator.SubmitRequest(submission(subject, pb.REQUEST_TYPE_ACCESS, controller_id=controller))).request
    before = await _row(dsr_rows, correction.request_id)

    await forget_settled(units_of_work(dsr_rows), timedelta(0))

    after, still_open = await _row(dsr_rows, correction.request_id), await _row(dsr_rows, waiting.request_id)
    assert before["evidence_ref"] and "Li Wei" in before["corrections"]
    assert (after["subject_id"], after["evidence_ref"], after["corrections"]) == (subject, "", "{}")
    assert still_open["evidence_ref"] == "desk-7/2291"
