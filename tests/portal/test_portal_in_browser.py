"""The portal in a real browser (Debian's chromium through Playwright), in both languages: a person signs
in by the link their app asked for, or by a code mailed to them; gives a consent after reading the
notice and downloads its signed receipt; withdraws it with the keyboard alone; asks to see their data
and reads it; a guardian gives a child's consent; a locked code, an expired link, a forged form and
another person's case are refused in plain words. Every page passes axe, asks no other host for
anything, and is drawn with fonts for its language. Screenshots of every page go to .run/portal-pages/
for a person to look at."""

import json
import re
from urllib.parse import urlsplit

import asyncpg
import pytest

from consentry.consent.v1 import consent_pb2 as cpb
from consentry.dsr.v1 import dsr_pb2 as dpb
from consentry.portal.v1 import portal_pb2 as pb
from services.portal.domain.sign_in import secret_hash
from tests.browser import BROWSER, Tour, fonts_covering, fonts_drawing
from tests.portal.fixtures import BACKEND, HARBOUR
from tests.portal.test_codes import code_in, registered
from tests.portal.visitor import sign_in_link
from tests.support import unique

pytestmark = [*BROWSER, BACKEND]


@pytest.mark.parametrize("script", [True, False], ids=["htmx", "no-script"])
@pytest.mark.parametrize("language", ["zh-CN", "en"])
async def test_a_person_signs_in_gives_and_withdraws_a_consent(harbour_links, harbour, portal_app, contexts, admin,
                                                              operator, language, script):
    """With script, htmx loads the withdrawal's confirmation into the card and keeps a request's status
    fresh; without, the same links open the confirmation page and a reload shows the status."""
    url, subject = await sign_in_link(harbour_links, language=language)
    origin = f"http://localhost:{portal_app.http_port}"
    context = await contexts(locale=language, java_script_enabled=script)
    elsewhere: list[str] = []

    async def only_the_portal(route) -> None:
        if route.request.url.startswith(origin + "/"):
            await route.continue_()
        else:
            elsewhere.append(route.request.url)
            await route.abort()

    await context.route("**/*", only_the_portal)
    page = await context.new_page()
    tour = Tour(page, language, script)
    words = WORDS[language]

    await page.goto(f"{origin}/{HARBOUR}/")
    await tour.look("home")
    await page.goto(url)
    await tour.look("sign-in")
    await page.get_by_role("button", name=words["continue"]).click()
    await page.wait_for_url(f"{origin}/{HARBOUR}/consents")
    await tour.look("consents")
    drawn_with = await fonts_drawing(page, "h1")

    await page.get_by_role("link", name=re.compile(words["give"] + r"\s*: Gate access by face")).click()
    await tour.look("grant")
    await page.get_by_label(words["age"]).fill("34")
    await page.get_by_role("button", name=words["consent"]).click()
    await page.wait_for_url("**done=granted")
    await tour.look("granted")
    given = await admin.CheckConsent(cpb.CheckConsentRequest(subject_id=subject, purpose_id=harbour["gate"],
                                                            controller_id=HARBOUR))

    await tour.activate(words["withdraw"], "link")
    if script:  # the confirmation comes into the card: the page stays
        await page.get_by_role("button", name=words["withdraw"]).wait_for()
        assert page.url.endswith("done=granted")
    else:
        await page.wait_for_url("**/withdraw?for=0")
    await tour.look("withdraw")
    await tour.activate(words["withdraw"], "button")
    await page.wait_for_url("**done=withdrawn")
    await tour.look("withdrawn")
    withdrawn = await admin.CheckConsent(cpb.CheckConsentRequest(subject_id=subject, purpose_id=harbour["gate"],
                                                                controller_id=HARBOUR))

    await page.get_by_role("link", name=words["requests"], exact=True).click()
    await tour.look("requests")
    await page.get_by_role("link", name=words["make"]).click()
    await tour.look("new-request")
    await page.get_by_label(words["access"]).check()
    await page.get_by_role("button", name=words["send"]).click()
    await page.wait_for_url("**?done=filed")
    await tour.look("case")
    held = page.get_by_text(words["checking"])
    if script:  # htmx refreshes the status in place until the request is done
        await held.wait_for(timeout=60_000)
    for _ in range(100):  # without script, a reload shows whether dsr has gathered the export
        if await held.count():
            break
        await page.wait_for_timeout(300)
        await page.reload()
    await tour.look("case-held")  # staff review the export before the person is given it
    held_links = await page.get_by_role("link", name=words["read"]).count()
    case = urlsplit(page.url).path.rsplit("/", 1)[1]
    await operator.ReleaseExport(dpb.ReleaseExportRequest(request_id=case, idempotency_key=f"release-{case}"))
    await page.reload()
    await tour.look("case-done")
    await page.get_by_role("link", name=words["read"]).click()
    await tour.look("export")

    served_script = await page.evaluate("typeof htmx !== 'undefined'") if script else False
    await page.goto(url)  # the link, once more
    await page.get_by_role("button", name=words["continue"]).click()
    await tour.look("link-used")
    refusal = await page.locator("main p").first.inner_text()

    assert given.decision == cpb.DECISION_ALLOW and withdrawn.decision == cpb.DECISION_DENY
    assert words["used"] in refusal
    assert held_links == 0
    assert not script or {"color-contrast", "html-has-lang", "document-title", "label", "landmark-one-main"} <= tour.checked
    assert all(found == [] for found in tour.violations.values()), tour.violations
    assert elsewhere == [] and urlsplit(url).hostname == "localhost"
    assert served_script == script  # htmx (served by the portal itself) ran exactly when script was on
    assert drawn_with and drawn_with <= fonts_covering(language), drawn_with


@pytest.mark.parametrize("language", ["zh-CN", "en"])
async def test_a_guardian_gives_a_childs_consent(harbour_links, harbour, portal_app, contexts, admin, language):
    child, guardian = unique("child"), unique("parent")
    answer = await harbour_links.CreateSignInLink(pb.CreateSignInLinkRequest(
        subject_id=guardian, jurisdiction="CN", language=language,
        wards=[pb.Ward(subject_id=child, verification_ref="household-register-12", label="Lily")]))
    context = await contexts(locale=language)
    page = await context.new_page()
    tour, words = Tour(page, language), WORDS[language]

    await page.goto(answer.url)
    await page.get_by_role("button", name=words["continue"]).click()
    await page.get_by_role("navigation", name=words["whose"]).get_by_role("link", name="Lily").click()
    await tour.look("ward-consents")
    await page.get_by_role("link", name=re.compile(words["give"] + r"\s*: Gate access by face")).click()
    await tour.look("ward-grant")
    await page.get_by_label(words["child_age"]).fill("9")
    await page.get_by_role("button", name=words["consent"]).click()
    await page.wait_for_url("**for=1&done=granted")
    await tour.look("ward-granted")
    history = await admin.GetConsentHistory(cpb.GetConsentHistoryRequest(
        subject_id=child, purpose_id=harbour["gate"], controller_id=HARBOUR))

    assert (history.consent.actor.kind, history.consent.actor.guardian_id) == (cpb.ACTOR_KIND_GUARDIAN, guardian)
    assert all(found == [] for found in tour.violations.values()), tour.violations


@pytest.mark.parametrize("language", ["zh-CN", "en"])
async def test_a_person_signs_in_by_a_mailed_code_and_keeps_the_receipt(harbour_links, harbour, portal_app, contexts,
                                                                        inbox, language):
    """A wrong code first (told how many tries are left), then the right one; then a consent given and
    its receipt's page, and the signed receipt downloaded from it."""
    subject, address = await registered(harbour_links)
    context = await contexts(locale=language, accept_downloads=True)
    page = await context.new_page()
    tour, words = Tour(page, language), WORDS[language]

    await page.goto(f"http://localhost:{portal_app.http_port}/{HARBOUR}/")
    await page.get_by_role("link", name=words["by_code"]).click()
    await tour.look("code-ask")
    await page.get_by_label(words["email"]).fill(address)
    await page.get_by_role("button", name=words["send_code"]).click()
    await tour.look("code-enter")
    code = code_in(await inbox.next_to(address))
    await page.get_by_label(words["code"]).fill("000000" if code != "000000" else "111111")
    await page.get_by_role("button", name=words["sign_in"]).click()
    await tour.look("code-wrong")
    wrong = await page.locator("main").inner_text()
    await page.get_by_label(words["code"]).fill(code)
    await page.get_by_role("button", name=words["sign_in"]).click()
    await page.wait_for_url("**/consents")
    await page.get_by_role("link", name=re.compile(words["give"] + r"\s*: Gate access by face")).click()
    await page.get_by_label(words["age"]).fill("34")
    await page.get_by_role("button", name=words["consent"]).click()
    await page.wait_for_url("**done=granted")
    await page.get_by_role("link", name=re.compile(words["receipt"] + r"\s*: Gate access by face")).click()
    await tour.look("receipt")
    async with page.expect_download() as downloading:
        await page.get_by_role("link", name=words["signed_receipt"]).click()
    receipt = json.loads((await (await downloading.value).path()).read_text())

    assert words["tries_left"] in wrong
    assert receipt["receipt"]["piiPrincipalId"] == subject and receipt["receipt"]["language"] == language
    assert all(found == [] for found in tour.violations.values()), tour.violations


@pytest.mark.parametrize("language", ["zh-CN", "en"])
async def test_a_locked_code_an_expired_link_a_forged_form_and_anothers_case_are_refused(
        harbour_links, harbour, portal_app, contexts, inbox, postgres, language):
    """Each refusal is a page in the person's language that says what happened and what to do next."""
    origin, words = f"http://localhost:{portal_app.http_port}", WORDS[language]
    _, address = await registered(harbour_links)
    expired, _ = await sign_in_link(harbour_links, language=language)
    conn = await asyncpg.connect(postgres.dsn("portal"))
    try:
        await conn.execute("UPDATE sign_in_links SET expires_at = now() - interval '1 second' WHERE token_hash = $1",
                           secret_hash(urlsplit(expired).path.rsplit("/", 1)[1]))
    finally:
        await conn.close()
    own, _ = await sign_in_link(harbour_links, language=language)
    stranger, _ = await sign_in_link(harbour_links, language=language)
    page = await (await contexts(locale=language)).new_page()
    tour = Tour(page, language)
    refusals = {}

    async def refusal(name: str) -> str:
        await tour.look(f"refused-{name}")
        refusals[name] = await tour.page.locator("main").inner_text()

    await page.goto(f"{origin}/{HARBOUR}/sign-in/code")
    await page.get_by_label(words["email"]).fill(address)
    await page.get_by_role("button", name=words["send_code"]).click()
    code = code_in(await inbox.next_to(address))
    for _ in range(5):  # five wrong tries lock the code: the right one then signs no one in
        await page.get_by_label(words["code"]).fill("000000" if code != "000000" else "111111")
        await page.get_by_role("button", name=words["sign_in"]).click()
    locked_out = await page.get_by_label(words["code"]).count() == 0
    await refusal("code-locked")
    await page.goto(f"{origin}/{HARBOUR}/consents")
    signed_out = urlsplit(page.url).path == f"/{HARBOUR}/"
    await page.goto(own)
    await page.get_by_role("button", name=words["continue"]).click()
    await page.wait_for_url("**/consents")

    await page.get_by_role("link", name=words["requests"], exact=True).click()
    await page.get_by_role("link", name=words["make"]).click()
    await page.locator("main input[name=csrf]").evaluate("field => { field.value = 'f'.repeat(64) }")
    await page.get_by_role("button", name=words["send"]).click()
    await refusal("csrf")
    await page.get_by_role("link", name=words["requests"], exact=True).click()
    await page.get_by_role("link", name=words["make"]).click()
    await page.get_by_role("button", name=words["send"]).click()
    await page.wait_for_url("**?done=filed")
    case_path = urlsplit(page.url).path

    other = tour.page = await (await contexts(locale=language)).new_page()  # another person's browser
    await other.goto(expired)
    await other.get_by_role("button", name=words["continue"]).click()
    await refusal("link-expired")
    await other.goto(stranger)
    await other.get_by_role("button", name=words["continue"]).click()
    await other.wait_for_url("**/consents")
    await other.goto(origin + case_path)
    await refusal("case-of-another")

    assert locked_out and signed_out and words["code_used"] in refusals["code-locked"]
    assert words["forged"] in refusals["csrf"]
    assert words["used"] in refusals["link-expired"]
    assert words["no_page"] in refusals["case-of-another"]
    assert all(found == [] for found in tour.violations.values()), tour.violations


WORDS = {
    "en": {"continue": "Continue", "give": "Read the notice and give consent", "age": "Your age in years",
           "consent": "I consent", "withdraw": "Withdraw consent", "used": "used already",
           "requests": "My requests", "make": "Make a request", "access": "See my data", "send": "Send the request",
           "read": "Read your data", "whose": "Whose consents", "child_age": "The child's age in years",
           "by_code": "Sign in with a code by e-mail", "email": "E-mail address", "send_code": "Send me a code",
           "code": "Code", "sign_in": "Sign in", "tries_left": "Tries left: 4",
           "receipt": "Receipt", "signed_receipt": "Download the signed receipt (JSON)",
           "code_used": "This code cannot be used", "forged": "sent from outside this page",
           "no_page": "This page does not exist", "checking": "Staff are checking it"},
    "zh-CN": {"continue": "继续", "give": "阅读告知书并给予同意", "age": "您的年龄（周岁）", "consent": "我同意",
              "withdraw": "撤回同意", "used": "已被使用",
              "requests": "我的请求", "make": "提出请求", "access": "查阅我的数据", "send": "发送请求",
              "read": "查看您的数据", "whose": "谁的同意", "child_age": "孩子的年龄（周岁）",
              "by_code": "用邮箱验证码登录", "email": "电子邮箱地址", "send_code": "发送验证码", "code": "验证码",
              "sign_in": "登录", "tries_left": "剩余尝试次数：4", "receipt": "回执",
              "signed_receipt": "下载已签名的回执（JSON）", "code_used": "此验证码无法使用", "forged": "此表单并非从本页面提交",
              "no_page": "此页面不存在", "checking": "工作人员正在核对"},
}
