"""An access or portability export holds every audit entry of the person, however many pages audit
answers them in; one with more entries than an export may hold waits, saying why, and is never cut
short. Likewise every consent and every event of its history, however many pages consent answers."""

import asyncio
import json

import pytest

from consentry.audit.v1 import audit_pb2 as apb
from consentry.consent.v1 import consent_pb2 as cpb
from consentry.dsr.v1 import dsr_pb2 as pb
from services.dsr.store import upstream
from tests.audit.test_log import entries_of, face_event
from tests.consent.builders import grant, registered_purpose
from tests.dsr.test_processors import opened_and_completed
from tests.dsr.test_requests import settled, submission, verify
from tests.keyvault.test_data_keys import consented
from tests.support import unique

# The gates run whenever this module does: an access request goes to every processor registered for
# access, and a module before it may have registered the gates and then seen them stopped (their
# fixture ends when the session's backend changes), leaving its requests waiting on no one.
pytestmark = [pytest.mark.parametrize("backend", ["wrapped"], indirect=True, scope="session"),
              pytest.mark.usefixtures("face_gates")]
FACE_EVENTS = 7
# An export waits for every face gate's answer and reads audit two entries a page: with the suite's
# two stacks busy on two cores, that has taken more than 20 s.
SETTLES_S = 60


async def logged_subject(admin, gate, face_events, dpo) -> tuple[str, list[str]]:
    """A consented subject with face events besides, and the ids of all their entries once logged."""
    subject, _ = await consented(admin, gate)
    await face_events.Append(apb.AppendRequest(events=[face_event(subject) for _ in range(FACE_EVENTS)]))
    entries = await entries_of(dpo, subject, until=lambda es: {"consent.granted", "keyvault.key.created"}
                               <= {e["type"] for e in es} and sum(e["type"].startswith("face.") for e in es)
                               == FACE_EVENTS)
    return subject, [e["eventId"] for e in entries]


async def exported_entries(operator, request_id: str) -> list[str]:
    export = await operator.GetExport(pb.GetExportRequest(request_id=request_id))
    return [e["eventId"] for e in json.loads(export.export_json)["consentry"]["auditEntries"]]


@pytest.mark.parametrize("kind", [pb.REQUEST_TYPE_ACCESS, pb.REQUEST_TYPE_PORTABILITY])
async def test_an_export_holds_every_page_of_the_persons_audit_entries(
        admin, gate, face_events, dpo, operator, monkeypatch, backend, kind):
    subject, logged = await logged_subject(admin, gate, face_events, dpo)
    monkeypatch.setattr(upstream, "AUDIT_PAGE", 2)  # the dsr service runs in this process

    submitted = (await operator.SubmitRequest(submission(subject, kind))).request
    await operator.VerifyIdentity(verify(submitted.request_id))
    done = await settled(operator, submitted.request_id, timeout=SETTLES_S)

    assert len(logged) > 4 * upstream.AUDIT_PAGE
    assert done.status == pb.REQUEST_STATUS_COMPLETED
    assert await exported_entries(operator, submitted.request_id) == logged


async def test_a_person_with_more_entries_than_an_export_holds_waits_with_the_reason_and_nothing_is_cut(
        admin, gate, face_events, dpo, operator, monkeypatch, backend):
    subject, logged = await logged_subject(admin, gate, face_events, dpo)
    monkeypatch.setattr(upstream, "AUDIT_PAGE", 2)
    monkeypatch.setattr(upstream, "MOST_AUDIT_ENTRIES", 4)

    submitted = (await operator.SubmitRequest(submission(subject, pb.REQUEST_TYPE_ACCESS))).request
    await operator.VerifyIdentity(verify(submitted.request_id))
    async with asyncio.timeout(SETTLES_S):
        while True:
            waiting = (await operator.GetRequest(pb.GetRequestRequest(request_id=submitted.request_id))).request
            if "more than 4 audit entries" in waiting.status_reason:
                break
            await asyncio.sleep(0.1)
    monkeypatch.setattr(upstream, "MOST_AUDIT_ENTRIES", len(logged))  # as if the bound were raised
    done = await settled(operator, submitted.request_id, timeout=SETTLES_S)

    assert waiting.status == pb.REQUEST_STATUS_VERIFIED
    assert done.status == pb.REQUEST_STATUS_COMPLETED
    assert await exported_entries(operator, submitted.request_id) == logged


async def test_dsr_reads_every_page_of_the_persons_consents_and_their_histories(admin, gate, operator, monkeypatch,
                                                                                backend):
    subject, purposes = unique("subj"), []
    for _ in range(3):
        purposes.append((await registered_purpose(admin)).purpose_id)
        await gate.GrantConsent(grant(subject, purposes[-1]))
    monkeypatch.setattr(upstream, "CONSENT_PAGE", 1)  # the dsr service runs in this process
    await gate.WithdrawConsent(cpb.WithdrawConsentRequest(
        subject_id=subject, purpose_id=purposes[0], actor=cpb.Actor(kind=cpb.ACTOR_KIND_SUBJECT),
        idempotency_key=unique("withdraw")))
    # dsr confirms the withdrawal in the consent's history (on its second page) before it opens a request.
    withdrawal = (await opened_and_completed(operator, subject))[0]
    await gate.GrantConsent(grant(subject, purposes[0]))

    submitted = (await operator.SubmitRequest(submission(subject, pb.REQUEST_TYPE_ACCESS))).request
    await operator.VerifyIdentity(verify(submitted.request_id))
    await settled(operator, submitted.request_id, timeout=SETTLES_S)
    document = json.loads((await operator.GetExport(pb.GetExportRequest(request_id=submitted.request_id))).export_json)

    assert (withdrawal.type, withdrawal.purpose_id) == (pb.REQUEST_TYPE_WITHDRAWAL, purposes[0])
    assert [c["purposeId"] for c in document["consentry"]["consents"]] == sorted(purposes)
    histories = {h["consent"]["purposeId"]: [e["eventType"] for e in h["events"]]
                 for h in document["consentry"]["consentHistory"]}
    granted, withdrawn = "CONSENT_EVENT_TYPE_GRANTED", "CONSENT_EVENT_TYPE_WITHDRAWN"
    assert histories == {**{p: [granted] for p in purposes}, purposes[0]: [granted, withdrawn, granted]}
