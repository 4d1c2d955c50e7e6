"""Staff sign in at the organisation's identity provider where the settings say so (OpenID Connect,
code flow with PKCE): the console signs in the account bound to the subject the provider names, and
no one else; a token for another client, signed by another key or expired, a state that is not the
browser's, a person the console has no account for, one whose name (not subject) matches an account,
and a password typed at the console are all refused, changing nothing."""

from urllib.parse import urlsplit

import httpx
import pytest

from consentry.portal.v1 import portal_admin_pb2 as admin_pb
from services.portal.app import PortalApp
from services.portal.settings import ConsoleSettings, OidcSettings
from tests.browser import CHROMIUM, RESULTS, Tour
from tests.consent.builders import CONTROLLER
from tests.portal.fixtures import BACKEND, portal_settings
from tests.portal.idp import CLIENT_ID, CLIENT_SECRET, StandInIdentityProvider
from tests.portal.staff import Staff, staff_account
from tests.support import unique

pytestmark = BACKEND


@pytest.fixture(scope="module")
async def idp():
    provider = StandInIdentityProvider()
    await provider.start()
    yield provider
    await provider.stop()


@pytest.fixture(scope="module")
async def sso_portal(run_dir, postgres, dev_ca, consent_app, dsr_app, portal_app, idp):
    """A second replica of the portal (the same database), whose console signs staff in at the provider."""
    settings = portal_settings(run_dir, postgres, dev_ca, consent_app, dsr_app)
    console = dev_ca.issue_client("console")
    settings.console = ConsoleSettings(tls_cert=console.cert, tls_key=console.key,
                                       audit_address=dsr_app.settings.audit_address, oidc=OidcSettings(
                                           issuer=idp.issuer, client_id=CLIENT_ID, client_secret=CLIENT_SECRET))
    app = PortalApp(settings)
    await app.start()
    yield app
    await app.stop()


async def at_the_provider(staff: Staff) -> tuple[httpx.Response, str]:
    """Starts the sign-in and follows the provider's answer back: the console's answer to the return."""
    leave = await staff.get("/console/sign-in/oidc/start")
    assert leave.status_code == 303
    async with httpx.AsyncClient() as browser:
        back = (await browser.get(leave.headers["location"])).headers["location"]
    path = urlsplit(back)
    return await staff.get(f"{path.path}?{path.query}"), path.query


async def bound_account(connect_portal_admin):
    """A DPO's account bound to the subject the provider gives the person of that name ("sub-" + name)."""
    name = unique("dpo").lower()
    return await staff_account(connect_portal_admin("admin"), "dpo", CONTROLLER, oidc_subject=f"sub-{name}"), name


async def test_the_provider_signs_in_the_account_bound_to_its_subject(sso_portal, idp, connect_portal_admin):
    account, person = await bound_account(connect_portal_admin)
    staff = Staff(f"http://127.0.0.1:{sso_portal.http_port}")
    try:
        idp.user = person
        returned, _ = await at_the_provider(staff)
        queue = await staff.get("/console/requests")
    finally:
        await staff.close()

    assert returned.status_code == 200 and 'http-equiv="refresh"' in returned.text
    assert queue.status_code == 200 and account.name in queue.text


@pytest.mark.parametrize("wrong", ["audience", "key", "expired", "no account", "name only", "state", "denied",
                                   "disabled"])
async def test_anything_but_a_valid_token_for_an_account_signs_no_one_in(sso_portal, idp, connect_portal_admin,
                                                                         wrong):
    account, person = await bound_account(connect_portal_admin)
    staff = Staff(f"http://127.0.0.1:{sso_portal.http_port}")
    try:
        # "name only": the provider's person is called as an account is, but is another subject.
        idp.user = {"denied": None, "no account": "nobody-here", "name only": account.name}.get(wrong, person)
        idp.wrong = wrong if wrong in ("audience", "key", "expired") else ""
        if wrong == "disabled":  # a valid token for the account, which an operator disabled
            await connect_portal_admin("admin").DisableStaffAccount(admin_pb.DisableStaffAccountRequest(name=account.name))
        if wrong == "state":  # the provider's answer to another browser's sign-in
            returned, query = await at_the_provider(Staff(str(staff.http.base_url)))
            await staff.get("/console/sign-in/oidc/start")
            returned = await staff.get(f"/console/sign-in/oidc?{query}")
        else:
            returned, _ = await at_the_provider(staff)
        queue = await staff.get("/console/requests")
    finally:
        await staff.close()

    assert (returned.status_code, returned.headers.get("location")) == (303, "/console/sign-in?failed=1")
    assert "staff" not in staff.cookies
    assert (queue.status_code, queue.headers["location"]) == (303, "/console/sign-in")


async def test_no_password_is_taken_where_the_provider_signs_staff_in(sso_portal, connect_portal_admin):
    account = await staff_account(connect_portal_admin("admin"), "dpo", CONTROLLER)
    staff = Staff(f"http://127.0.0.1:{sso_portal.http_port}")
    try:
        answer = await staff.sign_in(account)
    finally:
        await staff.close()

    assert answer.status_code == 400 and "staff" not in staff.cookies


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is missing: `make system` installs it")
@pytest.mark.parametrize("language", ["zh-CN", "en"])
async def test_in_a_browser_the_way_back_from_the_provider_ends_signed_in(sso_portal, idp, connect_portal_admin,
                                                                         contexts, language):
    """The provider sends the browser back by a navigation from its own site, which carries no SameSite=Strict
    cookie: the flow's cookie is Lax, and the console's own page moves on to the queue."""
    account, person = await bound_account(connect_portal_admin)
    page = await (await contexts(locale=language)).new_page()
    tour = Tour(page, language, True, RESULTS / "console-pages")
    idp.user = person

    await page.goto(f"http://localhost:{sso_portal.http_port}/console/sign-in")
    await tour.look("sign-in-oidc")
    await page.locator("a[href='/console/sign-in/oidc/start']").click()
    await page.wait_for_url("**/console/requests")

    assert account.name in await page.locator("header").inner_text()
    assert {name: found for name, found in tour.violations.items() if found} == {}
