"""Pages in a real browser: Debian's chromium driven by Playwright (never a downloaded browser), and
what the browser tests ask of it (a pytest plugin of tests/conftest.py: the `chromium` fixture)."""

import shutil
import subprocess
from pathlib import Path

import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import async_playwright

CHROMIUM = Path("/usr/bin/chromium")
# Debian's chromium, never a downloaded browser; nothing that would reach out on its own.
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# Screenshots of pages, for a person to look at.
RESULTS = Path(__file__).resolve().parents[1] / ".run"

BROWSER = [pytest.mark.browser, pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing: `make system` installs Debian's chromium and fonts-wqy-microhei")]


def fonts_covering(language: str) -> set[str]:
    """Every font family fontconfig knows to cover the language (a family may carry several names)."""
    listed = subprocess.run([shutil.which("fc-list") or "fc-list", f":lang={language.split('-')[0]}", "family"],
                            capture_output=True, text=True, check=True).stdout
    return {name.strip() for line in listed.splitlines() for name in line.split(",") if name.strip()}


async def fonts_drawing(page, selector: str) -> set[str]:
    """The platform fonts Chromium drew the element's text with."""
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("DOM.enable")
    await cdp.send("CSS.enable")
    root = (await cdp.send("DOM.getDocument"))["root"]["nodeId"]
    node = (await cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector}))["nodeId"]
    fonts = (await cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node}))["fonts"]
    return {font["familyName"] for font in fonts}


@pytest.fixture(scope="session")
async def chromium():
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield browser
        await browser.close()


@pytest.fixture
async def contexts(chromium):
    """Browser contexts of 1000x800 that close after the test, whatever happened in it."""
    opened = []

    async def new(**options):
        context = await chromium.new_context(viewport={"width": 1000, "height": 800}, **options)
        opened.append(context)
        return context
    yield new
    for context in opened:
        await context.close()


class Tour:
    """One person's browser on the pages: every page it reaches is checked by axe and photographed."""

    def __init__(self, page, language: str, script: bool = True, screenshots: Path = RESULTS / "portal-pages") -> None:
        """Without script, axe (a script itself) cannot run: those pages are photographed only; the same
        pages with script are the ones axe checks."""
        self.page, self.language, self.script, self.screenshots = page, language, script, screenshots
        self.violations: dict[str, list] = {}
        self.checked: set[str] = set()

    async def look(self, name: str) -> None:
        self.screenshots.mkdir(parents=True, exist_ok=True)
        if not self.script:
            await self.page.screenshot(path=self.screenshots / f"{name}-{self.language}-no-script.png", full_page=True)
            return
        results = (await Axe().run(self.page, options=None)).response
        self.checked |= {rule["id"] for rule in results["passes"]}
        self.violations[name] = [(v["id"], v["help"], [n["html"] for n in v["nodes"]]) for v in results["violations"]]
        assert await self.page.get_attribute("html", "lang") == self.language
        await self.page.screenshot(path=self.screenshots / f"{name}-{self.language}.png", full_page=True)

    async def activate(self, text: str, role: str) -> None:
        """With the keyboard alone (Tab to it, then Enter) where script runs to tell where the focus is;
        without script, a click."""
        if not self.script:
            await self.page.get_by_role(role, name=text).first.click()
            return
        await self.tab_to(text)
        await self.page.keyboard.press("Enter")

    async def tab_to(self, text: str) -> None:
        """Moves the focus with the Tab key alone to the link or button saying `text`."""
        for _ in range(60):
            await self.page.keyboard.press("Tab")
            if text in await self.page.evaluate(
                    "['A', 'BUTTON'].includes(document.activeElement.tagName) ? document.activeElement.innerText : ''"):
                return
        raise AssertionError(f"the Tab key never reached {text!r}")
