"""A verified receipt as a page the person reads (Kantara Consent Receipt 1.1, section 4.7): one
self-contained HTML5 document in zh-CN or en, from templates/receipt.html (Jinja2, every value
escaped), dated by Babel in the page's locale, in UTC. It ends with the signed JSON, byte for byte,
its signature and key id: the page explains, the signed JSON is what counts."""

import base64
from datetime import UTC
from functools import cache

from babel import Locale, UnknownLocaleError
from babel.dates import format_datetime
from jinja2 import Environment, PackageLoader, StrictUndefined, Template

from services.consent.api.receipt_labels import LABELS, TERMS
from services.consent.service.receipts import VerifiedReceipt

LANGUAGES = ("zh-CN", "en")
DEFAULT_LANGUAGE = "en"


def page_language(requested: str, receipt_language: str) -> str:
    """The language asked for; else the receipt's own (its notice's), matched on the primary subtag
    (zh-Hans-CN reads zh-CN, en-GB reads en); else English."""
    if requested:
        return requested
    primary = receipt_language.replace("_", "-").split("-")[0].lower()
    return next((language for language in LANGUAGES if language.split("-")[0].lower() == primary),
                DEFAULT_LANGUAGE)


@cache
def _template() -> Template:
    env = Environment(loader=PackageLoader("services.consent", "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return env.get_template("receipt.html")


def _language_name(tag: str, locale: Locale) -> str:
    """zh-CN as "Chinese (Simplified, China)" on an English page; a tag Babel does not know as itself."""
    try:
        return Locale.parse(tag, sep="-").get_display_name(locale) or tag
    except (ValueError, UnknownLocaleError):
        return tag


def _place_name(code: str, locale: Locale) -> str:
    name = locale.territories.get(code)
    return f"{name} ({code})" if name else code


def render(receipt: VerifiedReceipt, language: str) -> str:
    locale = Locale.parse(language, sep="-")
    terms = TERMS[language]
    return _template().render(
        lang=language, t=LABELS[language], r=receipt.content,
        term=lambda member: terms[member],
        date=lambda at: format_datetime(at, "long", tzinfo=UTC, locale=locale),
        iso=lambda at: at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        notice_language=_language_name(receipt.content.notice_language, locale),
        jurisdiction=_place_name(receipt.content.jurisdiction, locale),
        signed_json=receipt.receipt_json.decode(), signature=base64.b64encode(receipt.signature).decode(),
        key_id=receipt.key_id,
    )
