"""CCPA: what the act and its regulations ask of the platform, one test per requirement."""

import os
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from consentry.dsr.v1 import dsr_pb2 as pb
from services.common.erasure import SubjectTagger
from services.common.page_tokens import PageTokens
from services.dsr.domain.model import RequestType
from services.dsr.service.forgetting import Forgetting
from services.dsr.service.queries import RequestFilter, RequestQueries
from services.dsr.app import units_of_work
from services.dsr.service.requests import DeadlinePolicy, RequestService, Submission
from tests.audit.test_log import entries_of
from tests.dsr.test_requests import submission
from tests.consent.builders import CONTROLLER
from tests.dsr.test_start import OPERATOR, once
from tests.keyvault.test_data_keys import refused
from tests.legal import requirement
from tests.support import unique

pytestmark = pytest.mark.parametrize("backend", ["wrapped"], indirect=True, scope="session")


def business_days_between(start: datetime, end: datetime) -> int:
    """Mondays to Fridays after `start`, up to and including `end`."""
    days = (end.date() - start.date()).days
    return sum((start + timedelta(days=n)).weekday() < 5 for n in range(1, days + 1))


@requirement("CCPA 1798.130; Regs 7021(a)", "Receipt of a request is acknowledged within 10 business days, and recorded")
async def test_ccpa_7021_a_receipt_is_acknowledged_within_10_business_days(operator, dsr_dpo, backend):
    subject = unique("subj")
    r = (await operator.SubmitRequest(submission(subject, jurisdiction="US-CA"))).request
    elsewhere = (await operator.SubmitRequest(submission(unique("subj"), jurisdiction="DE"))).request
    acknowledge = pb.AcknowledgeRequestRequest(request_id=r.request_id, idempotency_key=unique("idem"))

    before = datetime.now(UTC)
    acknowledged = (await operator.AcknowledgeRequest(acknowledge)).request
    retried = (await operator.AcknowledgeRequest(acknowledge)).request
    again = await refused(operator.AcknowledgeRequest, pb.AcknowledgeRequestRequest(
        request_id=r.request_id, idempotency_key=unique("idem")))
    shown = (await operator.GetRequest(pb.GetRequestRequest(request_id=r.request_id))).request

    received, due = r.received_at.ToDatetime(UTC), r.acknowledgement_due_at.ToDatetime(UTC)
    assert r.HasField("acknowledgement_due_at") and not r.HasField("acknowledged_at")
    assert business_days_between(received, due) == 10 and due.weekday() < 5
    assert not elsewhere.HasField("acknowledgement_due_at")  # only the CCPA asks for it
    at = acknowledged.acknowledged_at.ToDatetime(UTC)
    assert before <= at <= datetime.now(UTC)
    assert shown.acknowledged_at == retried.acknowledged_at == acknowledged.acknowledged_at
    assert shown.acknowledgement_due_at == r.acknowledgement_due_at
    assert shown.timeline[-1].note == "receipt acknowledged to the person"
    assert again.code() == grpc.StatusCode.FAILED_PRECONDITION and "acknowledged at" in again.details()
    entries = await entries_of(dsr_dpo, subject, kind="dsr.request.acknowledged")
    assert [e["payload"]["acknowledgedAt"] for e in entries] == [acknowledged.acknowledged_at.ToJsonString()]
    assert entries[0]["payload"]["requestId"] == r.request_id


@requirement("CCPA 1798.130; Regs 7021(a)", "A request not acknowledged within 10 business days is listed as overdue")
async def test_ccpa_7021_a_an_unacknowledged_request_is_overdue_after_10_business_days(dsr_pool, backend):
    now = datetime.now(UTC)
    clock = [now - timedelta(days=20)]  # received 20 days ago: answer due in 25 days, acknowledgement past
    requests = RequestService(units_of_work(dsr_pool), DeadlinePolicy(), clock=lambda: clock[0])
    queries = RequestQueries(units_of_work(dsr_pool), await PageTokens.of(dsr_pool), Forgetting(SubjectTagger(os.urandom(32))))

    async def received(jurisdiction: str) -> str:
        r = await requests.submit(Submission(RequestType.ACCESS, unique("subj"), jurisdiction, "id-check", "desk-7",
                                             controller_id=CONTROLLER),
                                  once("SubmitRequest"))
        return r.request_id

    waiting, answered_receipt, german = await received("US-CA"), await received("US-CA"), await received("DE")
    clock[0] = now
    fresh = await received("US-CA")

    overdue_before = [r.request_id for r in (await queries.find(RequestFilter(overdue_only=True), 10, ""))[0]]
    await requests.acknowledge(answered_receipt, once("AcknowledgeRequest"), OPERATOR)
    overdue = [r.request_id for r in (await queries.find(RequestFilter(overdue_only=True), 10, ""))[0]]
    listed = [r.request_id for r in (await queries.find(RequestFilter(), 10, ""))[0]]

    assert sorted(overdue_before) == sorted([waiting, answered_receipt])
    assert overdue == [waiting]
    assert listed == [waiting, german, answered_receipt, fresh]  # overdue first, then by due date


@requirement("CCPA 1798.130(a)(2)", "A request is answered within 45 days, extendable once by 45 days")
async def test_ccpa_1798_130_an_answer_is_due_in_45_days_extendable_once_by_45(operator, backend):
    r = (await operator.SubmitRequest(submission(unique("subj"), jurisdiction="US-CA"))).request

    extended = (await operator.ExtendDeadline(pb.ExtendDeadlineRequest(
        request_id=r.request_id, reason="14 systems hold the person's data", idempotency_key=unique("idem")))).request
    twice = await refused(operator.ExtendDeadline, pb.ExtendDeadlineRequest(
        request_id=r.request_id, reason="still busy", idempotency_key=unique("idem")))

    received = r.received_at.ToDatetime()
    assert r.due_at.ToDatetime() - received == timedelta(days=45)
    assert extended.due_at.ToDatetime() - received == timedelta(days=90) and extended.extended
    assert twice.code() == grpc.StatusCode.FAILED_PRECONDITION and "one extension" in twice.details()
