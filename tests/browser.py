"""Pages in a real browser: Debian's chromium driven by Playwright (never a downloaded browser), and
what the browser tests ask of it (a pytest plugin of tests/conftest.py: the `chromium` fixture)."""

import shutil
import subprocess
from pathlib import Path

import pytest
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


