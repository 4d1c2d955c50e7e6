"""The language of a portal page: the person's own choice, else their browser's, else Chinese."""

import pytest

from services.portal.web.i18n import choose


@pytest.mark.parametrize(("chosen", "header", "expected"), [
    (None, "", "zh-CN"), (None, "en-US,en;q=0.8", "en"), (None, "fr, zh-TW;q=0.5", "zh-CN"),
    (None, "de, en;q=0", "zh-CN"), (None, "en;q=0.2, zh;q=0.9", "zh-CN"), ("en", "zh-CN", "en"),
    ("klingon", "en", "en"), (None, "en;q=abc, zh-CN", "zh-CN"),
])
def test_the_language_is_the_persons_choice_else_the_browsers_else_chinese(chosen, header, expected):
    assert choose(chosen, header) == expected
