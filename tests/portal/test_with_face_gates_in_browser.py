"""The portal on the whole platform as `consentry dev up` runs it, with two reference face gates as
processes, in a real browser and in both languages: a person gives consent in the portal, the gates
enrol their face; they withdraw in the portal and each gate deletes that purpose's template; they ask
for deletion in the portal, see the certificate, download it and check its signature; and the portal
has forgotten them (their session changes nothing, then ends). Every page passes axe and is photographed."""

import asyncio
import json
import os
import re
from contextlib import ExitStack

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from consentry.keyvault.v1 import keyvault_pb2 as kpb
from consentry.portal.v1 import portal_pb2 as ppb
from tests.browser import BROWSER, Tour
from tests.consent.builders import registered_controller, registered_purpose
from tests.erasure.stack import CONTROLLER, GATES, start_platform
from tests.erasure.test_a_deleted_person_is_nowhere import Gate
from tests.support import unique

pytestmark = [*BROWSER, pytest.mark.slow]
LANGUAGES = ("zh-CN", "en")
PURPOSES = {language: unique(f"doors-{language.lower()}") for language in LANGUAGES}  # one per test
WORDS = {
    "en": {"continue": "Continue", "give": "Read the notice and give consent", "age": "Your age in years",
           "consent": "I consent", "withdraw": "Withdraw consent", "requests": "My requests",
           "make": "Make a request", "delete": "Delete my data", "send": "Send the request",
           "certificate": "Download the deletion certificate", "forgotten": "deleted at your request"},
    "zh-CN": {"continue": "继续", "give": "阅读告知书并给予同意", "age": "您的年龄（周岁）", "consent": "我同意",
              "withdraw": "撤回同意", "requests": "我的请求", "make": "提出请求", "delete": "删除我的数据",
              "send": "发送请求", "certificate": "下载删除证明", "forgotten": "已按您的请求删除"},
}


@pytest.fixture(scope="module")
async def platform(tmp_path_factory):
    stack = ExitStack()
    try:
        # Both gates serve every test's purpose; the portal's sessions read on for their usual ten minutes
        # after a deletion. In a thread: starting runs event loops of its own.
        started = await asyncio.to_thread(start_platform, stack, tmp_path_factory.mktemp("platform"),
                                          {gate: list(PURPOSES.values()) for gate in GATES},
                                          {"CONSENTRY_PORTAL_SESSION_AFTER_DELETION_S": "600"})
        try:
            await registered_controller(started.consent_admin(), CONTROLLER)
            yield started
        finally:
            await started.close()
    finally:
        await asyncio.to_thread(stack.close)


async def _template_gone(gate, person: str, purpose: str, seconds: float = 60.0) -> None:  # noqa: ASYNC109
    async with asyncio.timeout(seconds):
        while await gate.store.template(person, purpose) is not None:  # noqa: ASYNC110 - polls the gate's store
            await asyncio.sleep(0.3)


@pytest.mark.parametrize("language", LANGUAGES)
async def test_a_withdrawal_and_a_deletion_in_the_portal_reach_the_face_gates(platform, chromium, language):
    purpose = PURPOSES[language]
    name = f"Doors by face ({language})"
    await registered_purpose(platform.consent(), purpose_id=purpose, controller_id=CONTROLLER, name=name)
    person = unique("person")
    link = await platform.portal().CreateSignInLink(ppb.CreateSignInLinkRequest(
        subject_id=person, jurisdiction="CN", controller_id=CONTROLLER, language=language))
    context = await chromium.new_context(viewport={"width": 1000, "height": 800}, locale=language,
                                         accept_downloads=True)
    page = await context.new_page()
    tour, words = Tour(page, language), WORDS[language]
    try:
        await page.goto(link.url)
        await page.get_by_role("button", name=words["continue"]).click()
        await page.get_by_role("link", name=re.compile(f"{words['give']}\\s*: {re.escape(name)}")).click()
        await page.get_by_label(words["age"]).fill("34")
        await page.get_by_role("button", name=words["consent"]).click()
        await page.wait_for_url("**done=granted")
        async with Gate(platform.gates[GATES[0]], platform.ports) as north, \
                Gate(platform.gates[GATES[1]], platform.ports) as south:
            for gate in (north, south):
                await gate.enrol(person, purpose, os.urandom(512), display_name=person)
            enrolled = [await gate.store.template(person, purpose) for gate in (north, south)]

            await page.get_by_role("link", name=words["withdraw"]).click()
            await page.get_by_role("button", name=words["withdraw"]).click()
            await page.wait_for_url("**done=withdrawn")
            await tour.look("gates-withdrawn")
            for gate in (north, south):  # the withdrawal opens a request; each gate deletes its template
                await _template_gone(gate, person, purpose)

        await page.get_by_role("link", name=words["requests"], exact=True).click()
        await page.get_by_role("link", name=words["make"]).click()
        await page.get_by_label(words["delete"]).check()
        await page.get_by_role("button", name=words["send"]).click()
        await page.wait_for_url("**?done=filed")
        await page.get_by_role("link", name=words["certificate"]).wait_for(timeout=60_000)  # htmx keeps it fresh
        await tour.look("gates-deleted")
        async with page.expect_download() as downloading:
            await page.get_by_role("link", name=words["certificate"]).click()
        certificate = json.loads((await (await downloading.value).path()).read_text())
        key = await platform.keyvault().GetCertificateKey(kpb.GetCertificateKeyRequest())
        await page.get_by_role("link", name=words["requests"], exact=True).click()
        await page.get_by_role("link", name=words["make"]).click()
        await page.get_by_role("button", name=words["send"]).click()  # the session changes nothing any more
        await tour.look("gates-forgotten")
        refusal = await page.locator("main").inner_text()
    finally:
        await context.close()

    assert all(enrolled)  # the templates were there, so their absence is the gates' deletion
    load_pem_public_key(key.public_key_pem.encode()).verify(bytes.fromhex(certificate["signature"]),
                                                            certificate["certificate_json"].encode())
    assert words["forgotten"] in refusal
    assert all(found == [] for found in tour.violations.values()), tour.violations
