"""The receipt pages in a real browser (Debian's chromium through Playwright): axe finds no accessibility
violation, the page asks the network for nothing, and the Chinese text is drawn with a font that has
Chinese glyphs. Screenshots go to .run/receipt-pages/ for a person to look at."""

import pytest
from axe_playwright_python.async_playwright import Axe

from tests.browser import BROWSER, RESULTS, fonts_covering, fonts_drawing
from tests.consent.test_receipt_page import granted_receipt, render

SCREENSHOTS = RESULTS / "receipt-pages"
pytestmark = BROWSER


@pytest.mark.parametrize("language", ["zh-CN", "en"])
async def test_the_page_passes_axe_loads_nothing_and_is_drawn_with_fonts_for_its_language(
        admin, gate, chromium, language):
    _, granted = await granted_receipt(admin, gate)
    html = (await gate.RenderReceipt(render(granted.receipt, language))).html
    context = await chromium.new_context(viewport={"width": 1000, "height": 800}, locale=language)
    asked: list[str] = []

    async def refuse(route) -> None:
        asked.append(route.request.url)
        await route.abort()

    await context.route("**/*", refuse)
    page = await context.new_page()
    await page.set_content(html, wait_until="load")
    results = (await Axe().run(page, options=None)).response
    drawn_with = await fonts_drawing(page, "h1")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=SCREENSHOTS / f"receipt-{language}.png", full_page=True)
    await page.set_viewport_size({"width": 390, "height": 800})
    await page.screenshot(path=SCREENSHOTS / f"receipt-{language}-narrow.png", full_page=True)
    overflow = await page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
    await context.close()

    passed = {rule["id"] for rule in results["passes"]}  # axe ran, and checked what matters most here
    assert len(passed) > 10 and {"color-contrast", "html-has-lang", "document-title"} <= passed, passed
    assert results["violations"] == [], [(v["id"], v["help"], [n["html"] for n in v["nodes"]])
                                         for v in results["violations"]]
    assert asked == []
    assert drawn_with and drawn_with <= fonts_covering(language), drawn_with  # no boxes for missing glyphs
    assert not overflow  # on a phone too, nothing runs off the side
