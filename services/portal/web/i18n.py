"""The portal's languages: gettext catalogs (locale/<lang>/LC_MESSAGES/messages.po, compiled to .mo by
`make install`), one Jinja2 environment per language, and the choice of language for a request: the
visitor's own choice (a cookie, set by the switcher), else the browser's Accept-Language, else zh-CN."""

from pathlib import Path

from babel import Locale
from babel.dates import format_date, format_datetime, format_skeleton, format_timedelta
from babel.numbers import format_decimal
from babel.support import Translations
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

LANGUAGES = ("zh-CN", "en")  # BCP 47, as <html lang> and the cookie carry them
DEFAULT = "zh-CN"
LOCALE_DIR = Path(__file__).parent / "locale"


def _babel(language: str) -> str:
    return language.replace("-", "_")


def translations(language: str) -> Translations:
    """The compiled catalog; a missing one is an installation error, said as such."""
    mo = LOCALE_DIR / _babel(language) / "LC_MESSAGES" / "messages.mo"
    if not mo.is_file():
        raise RuntimeError(f"the portal's {language} catalog is not compiled ({mo}): run `make install`")
    with mo.open("rb") as f:
        return Translations(f)


def _accepted(header: str) -> list[tuple[float, str]]:
    ranked = []
    for i, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                continue
        if tag:
            ranked.append((-q, i, tag.strip().lower()))
    return [(-q, tag) for q, _, tag in sorted(ranked)]


def choose(chosen: str | None, accept_language: str) -> str:
    if chosen in LANGUAGES:
        return chosen
    for q, tag in _accepted(accept_language):
        if q <= 0:
            continue
        for language in LANGUAGES:
            if tag == language.lower() or tag.split("-")[0] == language.split("-")[0].lower():
                return language
    return DEFAULT


class Pages:
    """A Jinja2 environment per language, with gettext and the locale's date formats."""

    def __init__(self) -> None:
        self._envs = {language: self._environment(language) for language in LANGUAGES}

    @staticmethod
    def _environment(language: str) -> Environment:
        env = Environment(loader=PackageLoader("services.portal.web", "templates"), undefined=StrictUndefined,
                          autoescape=select_autoescape(disabled_extensions=("txt",), default=True), extensions=["jinja2.ext.i18n"],
                          trim_blocks=True, lstrip_blocks=True)
        env.install_gettext_translations(translations(language), newstyle=True)
        locale = Locale.parse(_babel(language))
        env.filters["date"] = lambda d: format_date(d, format="long", locale=locale) if d else ""
        env.filters["datetime"] = lambda d: format_datetime(d, format="medium", locale=locale) if d else ""
        env.filters["number"] = lambda n: format_decimal(n, locale=locale)
        env.filters["day"] = lambda d: format_skeleton("MMMd", d, locale=locale)  # a chart's axis: "Dec 7"
        env.filters["duration"] = lambda t: format_timedelta(t, threshold=1.1, locale=locale)
        env.globals.update(lang=language, other_languages=[x for x in LANGUAGES if x != language],
                           language_names={x: Locale.parse(_babel(x)).get_display_name(_babel(x)) for x in LANGUAGES})
        return env

    def render(self, language: str, template: str, **context) -> str:
        return self._envs[language].get_template(template).render(**context)

    def letter(self, language: str, template: str, **context) -> tuple[str, str]:
        """A plain-text e-mail: its subject (the template's first line) and its text (the rest)."""
        subject, _, text = self.render(language, template, **context).partition("\n")
        return subject.strip(), text.lstrip("\n")


