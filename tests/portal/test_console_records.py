"""The records a regulator asks for: every request and the record of processing as CSV (what dsr and
consent hold, nothing of another controller's, no cell a spreadsheet would run), and the public page of
yearly figures a person reaches from the portal, which counts what dsr lists."""

import csv
import io
from datetime import UTC, datetime

import pytest

from consentry.dsr.v1 import dsr_pb2 as pb
from tests.consent.builders import registered_controller, registered_purpose
from tests.dsr.test_requests import submission
from tests.portal.fixtures import BACKEND
from tests.portal.staff import Staff, staff_account
from tests.portal.visitor import Visitor
from tests.support import unique

pytestmark = BACKEND


@pytest.fixture
async def office(portal_app, connect_portal_admin, consent_admin, operator):
    """A new controller with two access requests and a deletion (one with a reason a spreadsheet would
    take for a formula), a second controller with one of its own, and an auditor's browser in the first."""
    controller = (await registered_controller(consent_admin, unique("records"))).controller_id
    other = (await registered_controller(consent_admin, unique("records-other"))).controller_id
    ids = [(await operator.SubmitRequest(submission(unique("subj"), kind, jurisdiction=law, controller_id=where))
            ).request.request_id
           for kind, law, where in ((pb.REQUEST_TYPE_ACCESS, "DE", controller), (pb.REQUEST_TYPE_ACCESS, "CN", controller),
                                    (pb.REQUEST_TYPE_DELETION, "CN", controller), (pb.REQUEST_TYPE_ACCESS, "CN", other))]
    await operator.ExtendDeadline(pb.ExtendDeadlineRequest(request_id=ids[0], reason="=HYPERLINK(\"x\")",
                                                           idempotency_key=unique("idem")))
    auditor = await Staff(f"http://127.0.0.1:{portal_app.http_port}").signed_in(
        await staff_account(connect_portal_admin("admin"), "auditor", controller))
    yield controller, ids, auditor
    await auditor.close()


def rows(body: str) -> list[dict]:
    assert body.startswith("\ufeff")  # so a spreadsheet reads it as UTF-8
    return list(csv.DictReader(io.StringIO(body.removeprefix("\ufeff"))))


async def test_the_register_of_requests_is_what_dsr_holds_for_the_controller(office):
    controller, ids, auditor = office
    answer = await auditor.get("/console/records/requests.csv")
    found = rows(answer.text)

    assert answer.headers["content-type"].startswith("text/csv")
    assert sorted(r["request_id"] for r in found) == sorted(ids[:3])  # not the other controller's
    assert {r["controller_id"] for r in found} == {controller}
    assert sorted(r["type"] for r in found) == ["access", "access", "deletion"]
    extended = next(r for r in found if r["request_id"] == ids[0])
    assert (extended["extended"], extended["extension_reason"]) == ("True", "'=HYPERLINK(\"x\")")


async def test_the_record_of_processing_lists_the_controllers_purposes(office, admin):
    controller, _, auditor = office
    purpose = await registered_purpose(admin, controller_id=controller)
    found = rows((await auditor.get("/console/records/processing.csv")).text)

    assert [(r["purpose_id"], r["controller_id"], r["pia_reference"]) for r in found] == [
        (purpose.purpose_id, controller, purpose.pia_reference)]


async def test_the_public_page_states_the_yearly_figures_dsr_holds(office, portal_app):
    controller, _, _ = office
    visitor = Visitor(f"http://127.0.0.1:{portal_app.http_port}")
    try:
        page = await visitor.get(f"/{controller}/metrics")
    finally:
        await visitor.close()
    year = str(datetime.now(UTC).year)
    table = page.text.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    cells = [[c.strip() for c in row.split("<td>")[1:]] for row in table.split("<tr>")[1:]]

    assert page.status_code == 200 and f'<th scope="row">{year}</th>' in table
    assert [c[1:4] for c in cells] == [["2</td>", "0</td>", "0</td>"], ["1</td>", "0</td>", "0</td>"]]
