"""The console in a real browser (Debian's chromium through Playwright), in both languages: a DPO signs
in with password and authenticator code, finds an unverified request in the queue, verifies the
person's identity, finds that action in the audit log under their own name, checks the entry's proof
in the browser itself (and sees a tampered entry fail), and checks the whole log with a progress page;
without JavaScript every action still works. An auditor sees the same request with nothing to decide.
Every page passes axe; screenshots go to .run/console-pages/."""

import asyncio
import re

import pytest

from consentry.dsr.v1 import dsr_pb2 as pb
from tests.browser import BROWSER, RESULTS, Tour
from tests.consent.builders import CONTROLLER
from tests.dsr.test_requests import submission
from tests.portal.fixtures import BACKEND
from tests.portal.staff import staff_account
from tests.support import unique

SCREENSHOTS = RESULTS / "console-pages"
pytestmark = [*BROWSER, BACKEND]
WORDS = {
    "en": {"name": "Account name", "password": "Password", "code": "Code from your authenticator app",
           "sign in": "Sign in", "unverified": "Show unverified requests", "show": "Show", "note": "Note (optional)",
           "verify": "Identity verified", "verified": "Identity verified; the request goes ahead.",
           "audit": "Audit log", "type": "Event type", "search": "Search", "check here": "Check in this browser",
           "check log": "Check the log", "log ok": "The log verifies", "decide": "Decide", "sign out": "Sign out",
           "dashboard": "Dashboard", "requests": "Requests"},
    "zh-CN": {"name": "账号名", "password": "密码", "code": "身份验证器应用中的验证码", "sign in": "登录",
              "unverified": "显示未核实身份的请求", "show": "显示", "note": "备注（可选）", "verify": "身份已核实",
              "verified": "身份已核实；请求继续办理。", "audit": "审计日志", "type": "事件类型", "search": "搜索",
              "check here": "在本浏览器中核验", "check log": "核验日志", "log ok": "日志核验通过",
              "decide": "处理决定", "sign out": "退出登录", "dashboard": "概览", "requests": "请求"},
}


@pytest.fixture
def portal_admin(connect_portal_admin):
    return connect_portal_admin("admin")


async def signed_in(page, origin: str, account, words: dict) -> None:
    await page.goto(f"{origin}/console/")
    await page.get_by_label(words["name"]).fill(account.name)
    await page.get_by_label(words["password"]).fill(account.password)
    await page.get_by_label(words["code"]).fill(account.code())
    await page.get_by_role("button", name=words["sign in"]).click()
    await page.wait_for_url(f"{origin}/console/requests")


@pytest.mark.parametrize(("language", "script"), [("zh-CN", True), ("en", True), ("en", False)],
                         ids=["zh-CN", "en", "en-no-script"])
async def test_a_dpo_verifies_a_request_and_checks_the_log(portal_app, portal_admin, operator, contexts, language,
                                                           script):
    request = (await operator.SubmitRequest(submission(unique("subj"), pb.REQUEST_TYPE_ACCESS, jurisdiction="CN"))
               ).request
    account = await staff_account(portal_admin, "dpo", CONTROLLER)
    origin, words = f"http://localhost:{portal_app.http_port}", WORDS[language]
    page = await (await contexts(locale=language, java_script_enabled=script)).new_page()
    tour = Tour(page, language, script, SCREENSHOTS)

    await page.goto(f"{origin}/console/")
    await tour.look("sign-in")
    await signed_in(page, origin, account, words)
    await tour.look("queue")
    await page.get_by_role("link", name=words["dashboard"]).click()
    await page.locator("#requests-chart").wait_for()
    await tour.look("dashboard")
    await page.get_by_role("link", name=words["requests"], exact=True).click()
    await page.get_by_label(words["unverified"]).check()
    await page.get_by_role("button", name=words["show"], exact=True).click()
    await page.get_by_role("link", name=request.request_id).wait_for()
    await tour.look("queue-unverified")
    await page.get_by_role("link", name=request.request_id).click()
    await page.get_by_role("heading", name=words["decide"]).wait_for()
    await tour.look("request")
    await page.get_by_label(words["note"]).fill("ID card checked at the desk")
    await page.get_by_role("button", name=words["verify"], exact=True).click()
    await page.get_by_text(words["verified"]).wait_for()
    await tour.look("request-verified")
    status = (await operator.GetRequest(pb.GetRequestRequest(request_id=request.request_id))).request.status

    # The action is in the log under the DPO's name (once the log has taken it in and signed it).
    search = f"{origin}/console/audit?type=console.identity_verified"
    async with asyncio.timeout(20):
        while True:
            if account.name in await _newest_entry(page, search):
                break
            await asyncio.sleep(0.3)
    await tour.look("audit")
    await page.get_by_role("row", name=re.compile("console.identity_verified")).last.get_by_role("link").click()
    await tour.look("entry")
    entry_text = await page.locator("pre").first.inner_text()
    verdicts = []
    if script:
        verdicts.append(await _checked_here(page, words))
        await page.evaluate("""() => {  // one character of the entry changed: the proof must no longer hold
            const box = document.getElementById('proof');
            const entry = atob(box.dataset.entry).replace('identity_verified', 'identity_refused');
            box.dataset.entry = btoa(entry);
        }""")
        verdicts.append(await _checked_here(page, words))
        await tour.look("entry-tampered")

    await page.get_by_role("link", name=words["audit"]).click()
    await page.get_by_role("button", name=words["check log"]).click()
    async with asyncio.timeout(60):
        await page.get_by_text(words["log ok"]).wait_for(timeout=60_000)
    await tour.look("log-checked")
    await page.get_by_role("button", name=words["sign out"]).click()
    await page.wait_for_url(f"{origin}/console/sign-in")

    assert status not in (pb.REQUEST_STATUS_RECEIVED, pb.REQUEST_STATUS_VERIFICATION_PENDING)
    assert f'"actor":"{account.name}"' in entry_text and request.request_id in entry_text
    assert verdicts == ([("ok", True), ("bad", True)] if script else [])
    assert {name: found for name, found in tour.violations.items() if found} == {}


async def _newest_entry(page, url: str) -> str:
    """The JSON of the newest entry the search at `url` finds ("" if none yet); the page is left on the search."""
    await page.goto(url)
    rows = page.get_by_role("row", name=re.compile("console.identity_verified"))
    if not await rows.count():
        return ""
    await rows.last.get_by_role("link").click()
    text = await page.locator("pre").first.inner_text()
    await page.goto(url)
    return text


async def _checked_here(page, words: dict) -> tuple[str, bool]:
    """What the in-browser check said: its result and whether it wrote words for the person."""
    verdict = page.locator("#proof-verdict")
    await page.evaluate("() => { delete document.getElementById('proof-verdict').dataset.result; }")
    await page.get_by_role("button", name=words["check here"]).click()
    await page.wait_for_function("() => document.getElementById('proof-verdict').dataset.result")
    return await verdict.get_attribute("data-result"), bool((await verdict.inner_text()).strip())


@pytest.mark.parametrize("language", ["zh-CN", "en"])
async def test_an_auditor_sees_a_request_with_nothing_to_decide(portal_app, portal_admin, operator, contexts,
                                                                language):
    request = (await operator.SubmitRequest(submission(unique("subj"), pb.REQUEST_TYPE_DELETION, jurisdiction="CN"))
               ).request
    account = await staff_account(portal_admin, "auditor", CONTROLLER)
    origin, words = f"http://localhost:{portal_app.http_port}", WORDS[language]
    page = await (await contexts(locale=language)).new_page()
    tour = Tour(page, language, True, SCREENSHOTS)

    await signed_in(page, origin, account, words)
    await page.goto(f"{origin}/console/requests/{request.request_id}")
    await tour.look("request-auditor")

    assert request.request_id in await page.locator("h1").inner_text()
    assert await page.get_by_role("heading", name=words["decide"]).count() == 0
    assert await page.locator("form[action$='/verify']").count() == 0
    assert {name: found for name, found in tour.violations.items() if found} == {}
