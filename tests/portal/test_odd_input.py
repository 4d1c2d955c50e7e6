"""What no page of the portal sends, sent anyway: odd controller and purpose ids, digits that are not
ASCII, numbers too long to be ones. Each is answered as a page that does not exist or a form that is
not one, with the security headers, and changes nothing; never a failure of the server."""

import re

import asyncpg
import pytest

from consentry.portal.v1 import portal_pb2 as pb
from tests.consent.builders import registered_controller, registered_purpose
from tests.portal.fixtures import BACKEND, HARBOUR
from tests.portal.visitor import Visitor, hidden_fields, sign_in_link

pytestmark = BACKEND


@pytest.fixture
async def visitor(portal_app, harbour_links, harbour):
    v = Visitor(f"http://localhost:{portal_app.http_port}")
    url, _ = await sign_in_link(harbour_links)
    await v.sign_in(url)
    yield v
    await v.close()


@pytest.mark.parametrize("path", ["/-x/", "/a%20b/", "/" + "a" * 200 + "/", "/%E2%82%AC/consents", "/nowhere/"])
async def test_an_odd_controller_id_is_a_portal_that_does_not_exist(visitor, path):
    answer = await visitor.get(path)

    assert answer.status_code == 404 and "There is no portal at this address" in answer.text
    assert "unsafe-inline" not in answer.headers["content-security-policy"]


@pytest.mark.parametrize("query", ["for=²", "for=" + "9" * 5000, "for=-1", "for=1"])
async def test_a_ward_number_that_is_not_one_is_a_page_that_does_not_exist(visitor, harbour, query):
    for path in (f"/{HARBOUR}/consents", f"/{HARBOUR}/consents/{harbour['gate']}/grant"):
        assert (await visitor.get(f"{path}?{query}")).status_code == 404, path


@pytest.mark.parametrize("age", ["²", "9" * 5000, "-3", "0", "151", ""])
async def test_an_age_that_is_not_one_asks_again_and_records_nothing(visitor, harbour, age, admin):
    path = f"/{HARBOUR}/consents/{harbour['phone']}/grant?for=0"
    answer = await visitor.post(path, {**hidden_fields((await visitor.get(path)).text), "age": age})

    assert answer.status_code == 400 and 'aria-invalid="true"' in answer.text


@pytest.mark.parametrize("purpose", ["%20", "a%2Fb", "x" * 200, "%C3%A9t%C3%A9"])
async def test_an_odd_purpose_id_is_a_page_that_does_not_exist(visitor, purpose):
    assert (await visitor.get(f"/{HARBOUR}/consents/{purpose}/grant")).status_code == 404


async def test_an_export_link_with_an_odd_expiry_is_refused(visitor):
    case = "00000000-0000-0000-0000-000000000000"
    for until in ("²", "9" * 5000):
        answer = await visitor.get(f"/{HARBOUR}/requests/{case}/export.json?until={until}&sig={'0' * 64}")
        assert answer.status_code == 403, until


async def test_forms_and_the_switcher_keep_to_the_path_the_cookie_is_for(connect_portal, consent_admin, admin,
                                                                       portal_app):
    controller = "campus:north@cn"  # ":" and "@" are allowed in ids, and written %3A and %40 in a path
    await registered_controller(consent_admin, controller)
    purpose = await registered_purpose(admin, controller_id=controller)
    url = (await connect_portal("admin").CreateSignInLink(pb.CreateSignInLinkRequest(
        subject_id="mei", jurisdiction="CN", controller_id=controller))).url
    visitor = Visitor(f"http://localhost:{portal_app.http_port}")
    await visitor.sign_in(url)
    encoded = "/campus%3Anorth%40cn/"
    page = (await visitor.get(f"{encoded}consents/{purpose.purpose_id}/grant?for=0")).text
    switch = re.search(r'href="([^"]+/language\?to=zh-CN&amp;back=[^"]+)"', page).group(1).replace("&amp;", "&")
    switched = await visitor.get(switch)
    await visitor.close()

    cookie_path = next(c["session"]["path"] for c in visitor.set_cookies if "session" in c)
    assert cookie_path == encoded
    assert f'action="{encoded}consents/{purpose.purpose_id}/grant?for=0"' in page
    # The switcher goes back to the same page, for the same person (ward 0 here), in the other language.
    assert switched.headers["location"] == f"{encoded}consents/{purpose.purpose_id}/grant?for=0"


async def test_signing_in_again_in_the_same_browser_ends_the_earlier_session(harbour_links, harbour, portal_app):
    visitor = Visitor(f"http://localhost:{portal_app.http_port}")
    first, _ = await sign_in_link(harbour_links)
    second, _ = await sign_in_link(harbour_links)
    await visitor.sign_in(first)
    earlier = visitor.cookies["session"]
    await visitor.sign_in(second)
    later = visitor.cookies["session"]
    visitor.cookies["session"] = earlier  # kept by someone
    kept = await visitor.get(f"/{HARBOUR}/consents")
    visitor.cookies["session"] = later
    current = await visitor.get(f"/{HARBOUR}/consents")
    await visitor.close()

    assert earlier != later
    assert kept.headers["location"] == f"/{HARBOUR}/" and current.status_code == 200


async def test_the_case_pages_refresh_keeps_no_session_from_idling_out(visitor, postgres):
    async def last_seen():
        conn = await asyncpg.connect(postgres.dsn("portal"))
        try:
            return await conn.fetchval("SELECT last_seen_at FROM sessions WHERE session_hash = encode("
                                       "sha256($1::bytea), 'hex')", visitor.cookies["session"].encode())
        finally:
            await conn.close()
    page = f"/{HARBOUR}/requests/00000000-0000-0000-0000-000000000000"
    before = await last_seen()
    polled = await visitor.http.get(page, headers={**visitor._cookie_header(), "hx-request": "true",
                                                   "hx-trigger": "case-live"})
    after_poll = await last_seen()
    await visitor.get(f"/{HARBOUR}/consents")

    assert polled.status_code == 404  # the case is no one's: what matters is the session it did not touch
    assert after_poll == before and await last_seen() > before


