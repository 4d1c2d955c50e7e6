"""The console in a real browser (Debian's chromium through Playwright), in both languages: a DPO signs
in with password and authenticator code, finds an unverified request in the queue, verifies the
person's identity, finds that action in the audit log under their own name, checks the entry's proof
in the browser itself (and sees a tampered entry fail), and checks the whole log with a progress page;
without JavaScript every action still works. An auditor sees the same request with nothing to decide.
Every page passes axe; screenshots go to .run/console-pages/."""

import asyncio
import re

import pytest

from consentry.consent.v1 import consent_pb2 as cpb
from consentry.dsr.v1 import dsr_pb2 as pb
from tests.browser import BROWSER, RESULTS, Tour
from tests.consent.builders import CONTROLLER, registered_controller
from tests.dsr.test_requests import settled, submission
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
           "dashboard": "Dashboard", "requests": "Requests", "records": "Records", "purposes": "Purposes", "register": "Register a purpose",
           "purpose id": "Purpose id (letters, digits, . _ : @ -)", "purpose name": "Name", "kept": "Kept for (days)",
           "alternative": "The way without a face (PIPL 16)", "pia": "PIA reference", "template": "Face template",
           "register it": "Register the purpose", "publish": "Publish both texts as the next version",
           "release": "Release to the person", "released": "Export released; the person can now download it."},
    "zh-CN": {"name": "账号名", "password": "密码", "code": "身份验证器应用中的验证码", "sign in": "登录",
              "unverified": "显示未核实身份的请求", "show": "显示", "note": "备注（可选）", "verify": "身份已核实",
              "verified": "身份已核实；请求继续办理。", "audit": "审计日志", "type": "事件类型", "search": "搜索",
              "check here": "在本浏览器中核验", "check log": "核验日志", "log ok": "日志核验通过",
              "decide": "处理决定", "sign out": "退出登录", "dashboard": "概览", "requests": "请求", "records": "记录",
              "purposes": "处理目的", "register": "登记处理目的", "purpose id": "处理目的标识（字母、数字及 . _ : @ -）",
              "purpose name": "名称", "kept": "保存期限（天）", "alternative": "不使用人脸的替代方式（《个人信息保护法》第十六条）",
              "pia": "个人信息保护影响评估编号", "template": "人脸模板", "register it": "登记该处理目的",
              "publish": "将两种语言文本作为新版本发布", "release": "发布给本人", "released": "导出已发布；本人现在可以下载。"},
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
async def test_a_dpo_verifies_a_request_and_checks_the_log(portal_app, portal_admin, consent_admin, operator, contexts,
                                                           language, script):
    """In a controller of its own, so the log to check holds this test's entries only."""
    controller = (await registered_controller(consent_admin, unique("desk"))).controller_id
    request = (await operator.SubmitRequest(submission(unique("subj"), pb.REQUEST_TYPE_ACCESS, jurisdiction="CN",
                                                       controller_id=controller))).request
    account = await staff_account(portal_admin, "dpo", controller)
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
    await page.get_by_role("link", name=words["records"], exact=True).click()
    await tour.look("records")
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
    await settled(operator, request.request_id, timeout=60)  # its export is written and held for review
    await page.reload()
    await tour.look("request-held")
    await page.get_by_role("button", name=words["release"]).click()
    await page.get_by_text(words["released"]).wait_for()
    await tour.look("request-released")
    released = (await operator.GetRequest(pb.GetRequestRequest(request_id=request.request_id))).request

    # The action is in the log under the DPO's name (once the log has taken it in and signed it).
    search = f"{origin}/console/audit?type=console.identity_verification_asked"
    async with asyncio.timeout(20):
        while True:
            if account.name in await _newest_entry(page, search):
                break
            await asyncio.sleep(0.3)
    await tour.look("audit")
    await page.get_by_role("row", name=re.compile("console.identity_verification_asked")).last.get_by_role("link").click()
    await tour.look("entry")
    entry_text = await page.locator("pre").first.inner_text()
    verdicts = []
    if script:
        verdicts.append(await _checked_here(page, words))
        await page.evaluate("""() => {  // a word of the entry changed: the proof must no longer hold
            const box = document.getElementById('proof');
            const entry = atob(box.dataset.entry).replace('verification_asked', 'verification_faked');
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
    await page.goto(f"{origin}/{controller}/metrics")  # what the controller publishes, for everyone
    await tour.look("public-metrics")

    assert status not in (pb.REQUEST_STATUS_RECEIVED, pb.REQUEST_STATUS_VERIFICATION_PENDING)
    assert released.HasField("export_released_at")
    assert f'"actor":"{account.name}"' in entry_text and request.request_id in entry_text
    assert verdicts == ([("ok", True), ("bad", True)] if script else [])
    assert {name: found for name, found in tour.violations.items() if found} == {}


async def _newest_entry(page, url: str) -> str:
    """The JSON of the newest entry the search at `url` finds ("" if none yet); the page is left on the search."""
    await page.goto(url)
    rows = page.get_by_role("row", name=re.compile("console.identity_verification_asked"))
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


@pytest.mark.parametrize("language", ["zh-CN", "en"])
async def test_a_dpo_registers_a_purpose_and_publishes_its_notice_side_by_side(portal_app, portal_admin,
                                                                               consent_admin, admin, contexts,
                                                                               language):
    controller = (await registered_controller(consent_admin, unique("office"))).controller_id
    account = await staff_account(portal_admin, "dpo", controller)
    origin, words = f"http://localhost:{portal_app.http_port}", WORDS[language]
    page = await (await contexts(locale=language)).new_page()
    tour = Tour(page, language, True, SCREENSHOTS)
    purpose_id = unique("door")

    await signed_in(page, origin, account, words)
    await page.get_by_role("link", name=words["purposes"], exact=True).click()
    await tour.look("purposes")
    await page.get_by_role("link", name=words["register"]).click()
    await tour.look("purpose-new")
    for field, value in ((words["purpose id"], purpose_id), (words["purpose name"], "Door access by face"),
                         (words["kept"], "365"), (words["alternative"], "A badge at the door"),
                         (words["pia"], "PIA-2026-7")):
        await page.get_by_label(field, exact=True).fill(value)
    await page.get_by_label(words["template"]).check()
    await page.get_by_role("button", name=words["register it"]).click()
    await page.wait_for_url("**done=registered")
    await page.locator("textarea[lang=zh-CN]").fill("我们存储您的人脸模板以开门。")  # the two texts side by side
    await page.locator("textarea[lang=en]").fill("We keep a template of your face to open the door.")
    await page.get_by_role("button", name=words["publish"]).click()
    await page.wait_for_url("**done=published**")
    await tour.look("purpose")
    found = await admin.GetPurpose(cpb.GetPurposeRequest(purpose_id=purpose_id, controller_id=controller))

    assert sorted(n.language for n in found.notices) == ["en", "zh-CN"]
    assert found.purpose.pia_reference == "PIA-2026-7"
    assert {name: found for name, found in tour.violations.items() if found} == {}
