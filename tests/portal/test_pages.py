"""The switcher of languages, and what a person is told when a change is refused (nothing changed)."""

import re

import pytest

from consentry.consent.v1 import consent_pb2 as cpb
from consentry.portal.v1 import portal_pb2 as pb
from tests.consent.builders import grant
from tests.portal.fixtures import BACKEND, HARBOUR
from tests.portal.visitor import Visitor, hidden_fields, sign_in_link


pytestmark = BACKEND


@pytest.fixture
async def visitor(portal_app):
    v = Visitor(f"http://localhost:{portal_app.http_port}", language="en-GB,en;q=0.9")
    yield v
    await v.close()


def lang_of(html: str) -> str:
    return re.search(r'<html lang="([^"]+)">', html).group(1)


async def test_the_switcher_remembers_the_choice_and_goes_back_only_within_the_portal(visitor, harbour):
    english = await visitor.get(f"/{HARBOUR}/")
    switched = await visitor.get(f"/{HARBOUR}/language?to=zh-CN&back=/{HARBOUR}/")
    chinese = await visitor.get(f"/{HARBOUR}/")
    away = await visitor.get(f"/{HARBOUR}/language?to=en&back=https://evil.example/")
    sneaky = await visitor.get(f"/{HARBOUR}/language?to=en&back=/{HARBOUR}//evil.example/")

    assert lang_of(english.text) == "en" and lang_of(chinese.text) == "zh-CN"
    assert switched.status_code == 303 and switched.headers["location"] == f"/{HARBOUR}/"
    assert away.headers["location"] == sneaky.headers["location"] == f"/{HARBOUR}/"


async def test_the_link_sets_the_language_the_app_asked_for(harbour_links, harbour, visitor):
    url, _ = await sign_in_link(harbour_links, language="zh-CN")
    page = await visitor.get((await visitor.sign_in(url)).headers["location"])
    assert lang_of(page.text) == "zh-CN" and "我的同意" in page.text


async def test_a_grant_of_a_notice_other_than_the_one_shown_or_without_a_sound_age_records_nothing(
        harbour_links, harbour, visitor, admin):
    url, subject = await sign_in_link(harbour_links)
    await visitor.sign_in(url)
    path = f"/{HARBOUR}/consents/{harbour['phone']}/grant"
    fields = hidden_fields((await visitor.get(path)).text)

    altered = await visitor.post(path, {**fields, "notice_hash": "f" * 64, "age": "30"})
    no_age = await visitor.post(path, {**fields, "age": "thirty"})
    no_key = await visitor.post(path, {**fields, "form_key": "../../x", "age": "30"})
    check = cpb.CheckConsentRequest(subject_id=subject, purpose_id=harbour["phone"], controller_id=HARBOUR)
    before = await admin.CheckConsent(check)
    granted = await visitor.post(path, {**fields, "age": "30"})
    again = await visitor.post(path, {**fields, "age": "30"})  # the same form sent twice: one grant
    history = await admin.GetConsentHistory(cpb.GetConsentHistoryRequest(
        subject_id=subject, purpose_id=harbour["phone"], controller_id=HARBOUR))

    assert altered.status_code == 409 and "The notice changed while you were reading it" in altered.text
    assert no_age.status_code == 400 and 'aria-invalid="true"' in no_age.text
    assert no_key.status_code == 400
    assert before.decision == cpb.DECISION_DENY
    assert granted.status_code == again.status_code == 303
    assert [e.event_type for e in history.events] == [cpb.CONSENT_EVENT_TYPE_GRANTED]
    assert history.consent.collection_method == cpb.COLLECTION_METHOD_WEB_FORM
    assert history.consent.evidence_ref.startswith("portal-session:") and subject not in history.consent.evidence_ref


async def test_a_person_sees_only_their_own_consents_at_the_portals_controller(harbour_links, harbour, visitor,
                                                                              admin, gate):
    url, subject = await sign_in_link(harbour_links)
    await admin.GrantConsent(grant(subject, harbour["gate"], controller_id=HARBOUR))
    other = (await harbour_links.CreateSignInLink(pb.CreateSignInLinkRequest(subject_id=subject + "-x",
                                                                              jurisdiction="CN"))).url
    await visitor.sign_in(url)
    mine = (await visitor.get(f"/{HARBOUR}/consents")).text
    stranger = Visitor(str(visitor.http.base_url), language="en")
    await stranger.sign_in(other)
    theirs = (await stranger.get(f"/{HARBOUR}/consents")).text
    await stranger.close()

    assert mine.count("Status: Given") == 1 and theirs.count("Status: Given") == 0
    assert "Status: Not given" in theirs


async def test_a_part_refreshed_by_htmx_after_the_session_ended_takes_the_whole_page_to_the_start(
        harbour_links, harbour, visitor):
    url, _ = await sign_in_link(harbour_links)
    await visitor.sign_in(url)
    live = await visitor.http.get(f"/{HARBOUR}/requests", headers={**visitor._cookie_header(), "hx-request": "true"})
    visitor.cookies.clear()  # the session ends (as by time, or a deletion)

    ended = await visitor.http.get(f"/{HARBOUR}/requests", headers={"hx-request": "true"})
    plain = await visitor.get(f"/{HARBOUR}/requests")

    assert live.status_code == 200 and "hx-redirect" not in live.headers
    assert (ended.status_code, ended.headers["hx-redirect"], ended.text) == (200, f"/{HARBOUR}/", "")
    assert (plain.status_code, plain.headers["location"]) == (303, f"/{HARBOUR}/")
