"""A person's requests in the portal: filed already verified (the portal signed them in), followed to
their end, and their evidence fetched: the export behind links of a few minutes in that session only,
the deletion certificate as keyvault signed it. Another person's case is one that does not exist."""

import asyncio
import json
import re

import pytest

from consentry.consent.v1 import consent_pb2 as cpb
from consentry.dsr.v1 import dsr_pb2
from consentry.keyvault.v1 import keyvault_pb2 as kpb
from tests.consent.builders import grant
from tests.portal.fixtures import BACKEND, HARBOUR
from tests.portal.visitor import Visitor, hidden_fields, sign_in_link

pytestmark = BACKEND
CASE = re.compile(rf"/{HARBOUR}/requests/([0-9a-f-]{{36}})\?done=filed")


@pytest.fixture
async def person(portal_app, harbour_links, harbour):
    """A person of HARBOUR, signed in to its portal: (their browser, their subject id)."""
    url, subject = await sign_in_link(harbour_links)
    v = Visitor(f"http://localhost:{portal_app.http_port}")
    await v.sign_in(url)
    yield v, subject
    await v.close()


async def file(visitor: Visitor, **fields: str) -> str:
    """Files a request through the form; its case number."""
    form = hidden_fields((await visitor.get(f"/{HARBOUR}/requests/new")).text)
    answer = await visitor.post(f"/{HARBOUR}/requests/new", {**form, **fields})
    assert answer.status_code == 303, answer.text
    return CASE.fullmatch(answer.headers["location"]).group(1)


async def shown(visitor: Visitor, path: str, text: str) -> str:
    """The page once it shows `text`."""
    async with asyncio.timeout(60):
        while True:
            page = (await visitor.get(path)).text
            if text in page:
                return page
            await asyncio.sleep(0.3)


async def settled(visitor: Visitor, case: str) -> str:
    """The case page once the request is done."""
    return await shown(visitor, f"/{HARBOUR}/requests/{case}", "Status</dt><dd>Done")


async def released(visitor: Visitor, operator, case: str) -> str:
    """The case page once the request is done and staff released its export."""
    await settled(visitor, case)
    await operator.ReleaseExport(dsr_pb2.ReleaseExportRequest(request_id=case, idempotency_key=f"release-{case}"))
    return (await visitor.get(f"/{HARBOUR}/requests/{case}")).text


EXPORT_LINK = re.compile(r'href="([^"]+/export(?:\.json)?\?until=\d+&amp;sig=[0-9a-f]{64})"')


async def test_an_access_request_filed_in_the_portal_needs_no_manual_verification_and_shows_its_export(
        person, operator):
    visitor, subject = person
    case = await file(visitor, kind="access", details="Everything you hold, please.")
    listed = (await visitor.get(f"/{HARBOUR}/requests")).text
    held = await settled(visitor, case)
    page = await released(visitor, operator, case)
    request = (await operator.GetRequest(dsr_pb2.GetRequestRequest(request_id=case))).request
    links = EXPORT_LINK.findall(page)
    read, exported = [await visitor.get(link.replace("&amp;", "&")) for link in links]

    assert "Staff are checking it" in held and not EXPORT_LINK.search(held)
    assert "Staff are checking it" not in page
    assert case in listed and "See my data" in listed
    assert request.subject_id == subject and request.controller_id == HARBOUR
    assert [dsr_pb2.RequestStatus.Name(t.status) for t in request.timeline][:2] == [
        "REQUEST_STATUS_RECEIVED", "REQUEST_STATUS_VERIFIED"]
    assert request.timeline[1].note == "identity verified by portal (portal-app-link)"
    assert request.HasField("acknowledged_at")
    assert len(links) == 2
    assert read.status_code == 200 and "Your consents" in read.text
    assert exported.headers["content-disposition"].startswith("attachment")
    assert json.loads(exported.text)["requestId"] == case


async def test_an_export_link_works_in_its_session_and_for_minutes_only(person, portal_app, harbour_links, operator):
    visitor, _ = person
    case = await file(visitor, kind="portability")
    page = await released(visitor, operator, case)
    link = re.search(r'href="([^"]+/export\.json\?until=(\d+)&amp;sig=([0-9a-f]{64}))"', page)
    path, until, sig = link.group(1).replace("&amp;", "&"), link.group(2), link.group(3)
    url, _ = await sign_in_link(harbour_links)
    stranger = Visitor(f"http://localhost:{portal_app.http_port}")
    await stranger.sign_in(url)

    own = await visitor.get(path)
    late = await visitor.get(path.replace(f"until={until}", f"until={int(until) + 3600}"))
    forged = await visitor.get(path.replace(sig, "0" * 64))
    elsewhere = await stranger.get(path)
    await stranger.close()

    assert own.status_code == 200
    assert late.status_code == forged.status_code == 403 and "has expired" in late.text
    assert elsewhere.status_code in (403, 404)


async def test_another_persons_case_number_is_a_case_that_does_not_exist(person, portal_app, harbour_links):
    visitor, _ = person
    case = await file(visitor, kind="access")
    url, _ = await sign_in_link(harbour_links)
    stranger = Visitor(f"http://localhost:{portal_app.http_port}")
    await stranger.sign_in(url)
    nobody = "00000000-0000-0000-0000-000000000000"

    theirs = await stranger.get(f"/{HARBOUR}/requests/{case}")
    unknown = await stranger.get(f"/{HARBOUR}/requests/{nobody}")
    certificate = await stranger.get(f"/{HARBOUR}/requests/{case}/certificate.json")
    await stranger.close()

    assert theirs.status_code == unknown.status_code == certificate.status_code == 404
    assert theirs.text.replace(case, "<id>") == unknown.text.replace(nobody, "<id>")  # as asked, nothing more


async def test_a_deletion_filed_in_the_portal_ends_with_its_certificate(person, kv_admin):
    visitor, subject = person
    case = await file(visitor, kind="deletion")
    page = await settled(visitor, case)
    download = await visitor.get(f"/{HARBOUR}/requests/{case}/certificate.json")
    body = json.loads(download.text)
    verified = await kv_admin.VerifyCertificate(_verify(body, subject))

    assert "Proof of deletion" in page
    assert body["certificate"]["type"].startswith("consentry.keyvault.")
    assert verified.signature_valid and verified.names_subject


async def test_a_withdrawal_asked_in_the_portal_withdraws_that_consent_and_opens_its_deletion(person, admin, harbour):
    visitor, subject = person
    for purpose in harbour.values():
        await admin.GrantConsent(grant(subject, purpose, controller_id=HARBOUR))
    form = hidden_fields((await visitor.get(f"/{HARBOUR}/requests/new")).text)

    answer = await visitor.post(f"/{HARBOUR}/requests/new", {**form, "kind": "withdrawal", "purpose_id": harbour["gate"]})
    decisions = {kind: (await admin.CheckConsent(cpb.CheckConsentRequest(
        subject_id=subject, purpose_id=purpose, controller_id=HARBOUR))).decision for kind, purpose in harbour.items()}
    page = await shown(visitor, answer.headers["location"], "Withdraw a consent and delete its data")

    assert answer.headers["location"] == f"/{HARBOUR}/requests?done=withdrawn"
    assert decisions == {"gate": cpb.DECISION_DENY, "phone": cpb.DECISION_ALLOW}
    assert page.count("Withdraw a consent and delete its data") == 1


@pytest.mark.parametrize("fields", [
    {"kind": "erase-everything"}, {"kind": "withdrawal"}, {"kind": "withdrawal", "purpose_id": "bad id"},
    {"kind": "correction", "correct_field": "name"}, {"kind": "correction", "correct_value": "Mei Lin"},
    {"kind": "access", "details": "x" * 4001},
])
async def test_a_request_form_that_is_not_one_files_nothing(person, operator, fields):
    visitor, subject = person
    form = hidden_fields((await visitor.get(f"/{HARBOUR}/requests/new")).text)

    answer = await visitor.post(f"/{HARBOUR}/requests/new", {**form, **fields})
    filed = (await operator.ListRequests(dsr_pb2.ListRequestsRequest(subject_id=subject, controller_id=HARBOUR)))

    assert answer.status_code == 400 and "Nothing was changed" in answer.text
    assert list(filed.requests) == []


def _verify(body: dict, subject: str) -> kpb.VerifyCertificateRequest:
    return kpb.VerifyCertificateRequest(subject_id=subject, certificate=kpb.DeletionCertificate(
        certificate_json=body["certificate_json"].encode(), signature=bytes.fromhex(body["signature"])),
        controller_id=HARBOUR)

