"""The console's dashboard draws what the platform's API answers: the bars of this week's requests
are the counts dsr lists for the controller, the filing meter is consent's filing status, and a DPO's
dashboard counts their own controller's requests only."""

import re
from datetime import UTC, datetime, timedelta

import pytest

from consentry.consent.v1 import consent_pb2 as cpb
from consentry.dsr.v1 import dsr_pb2 as pb
from services.portal.domain.audit_log import Filing
from services.portal.domain.requests import Kind
from services.portal.domain.staff import Role, StaffAccount
from services.portal.domain.statistics import last_weeks, requests_per_week, week_of
from services.portal.service.console import Dashboard
from services.portal.web.i18n import Pages
from tests.consent.builders import registered_controller
from tests.dsr.test_requests import submission
from tests.portal.fixtures import BACKEND
from tests.portal.staff import Staff, staff_account
from tests.support import unique



def figures(html: str, chart: str) -> dict[tuple[str, str], int]:
    """(group, series): value of every bar of the chart."""
    svg = html.split(f'<svg id="{chart}"', 1)[1].split("</svg>", 1)[0]
    return {(g, s): int(v) for g, s, v in re.findall(
        r'data-group="([^"]*)" data-series="([^"]*)" data-value="([0-9]+)"', svg)}


@BACKEND
async def test_the_charts_show_the_figures_the_api_gives(portal_app, connect_portal_admin, consent_admin, admin,
                                                         operator):
    controller = (await registered_controller(consent_admin, unique("dash"))).controller_id
    other = (await registered_controller(consent_admin, unique("dash-other"))).controller_id
    for kind, where in ((pb.REQUEST_TYPE_ACCESS, controller), (pb.REQUEST_TYPE_ACCESS, controller),
                        (pb.REQUEST_TYPE_DELETION, controller), (pb.REQUEST_TYPE_ACCESS, other)):
        await operator.SubmitRequest(submission(unique("subj"), kind, jurisdiction="CN", controller_id=where))
    listed = (await operator.ListRequests(pb.ListRequestsRequest(controller_id=controller, page_size=500))).requests
    filing = await admin.GetFilingStatus(cpb.GetFilingStatusRequest(controller_id=controller))
    account = await staff_account(connect_portal_admin("admin"), "dpo", controller)
    dpo = await Staff(f"http://127.0.0.1:{portal_app.http_port}").signed_in(account)
    try:
        page = (await dpo.get("/console/dashboard")).text
    finally:
        await dpo.close()

    this_week = week_of(datetime.now(UTC)).isoformat()
    expected = {"access": sum(r.type == pb.REQUEST_TYPE_ACCESS for r in listed),
                "deletion": sum(r.type == pb.REQUEST_TYPE_DELETION for r in listed)}
    bars = figures(page, "requests-chart")
    assert expected == {"access": 2, "deletion": 1}  # the other controller's request is not theirs
    assert {s: bars[(this_week, s)] for s in expected} == expected
    assert bars[((week_of(datetime.now(UTC)) - timedelta(weeks=1)).isoformat(), "access")] == 0
    meter = re.search(r'<svg id="filing-chart".*?data-value="([0-9]+)"', page, re.S).group(1)
    assert int(meter) == round(100 * filing.subjects_with_stored_face_data / filing.threshold)
    stated = re.search(r"([0-9,]+) people with stored face data", page).group(1)
    assert stated == f"{filing.subjects_with_stored_face_data:,}"


@pytest.mark.parametrize("language", ["zh-CN", "en"])
@pytest.mark.parametrize(("subjects", "state", "words"), [
    (95_000, "approaching", {"en": "Over 90 % of the threshold", "zh-CN": "已超过门槛的 90 %"}),
    (100_000, "filing_required", {"en": "due within 30 working days", "zh-CN": "须在 30 个工作日内备案"})])
def test_the_filing_warning_shows_from_nine_tenths_in_both_languages(language, subjects, state, words):
    now = datetime.now(UTC)
    weeks = last_weeks(now, 12)
    board = Dashboard("acme-campus", weeks, requests_per_week([], weeks), [], None, [], [],
                      Filing(subjects, 100_000, state), [], True)
    html = Pages().render(language, "console/dashboard.html", board=board, kinds=list(Kind), request_groups=[],
                          consent_groups=[], account=StaffAccount("dpo-a", Role.DPO, "acme-campus"),
                          session=None, back="/", path="/console/dashboard", csrf="")

    assert words[language] in html
    assert f"{subjects:,}" in html  # grouped as both locales write numbers
