"""What the console's pages read from a request, each field by its pattern (anything else refuses the
page or the form, and changes nothing), and the refusal a page answers with instead."""

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from starlette.requests import Request

from services.portal.domain.purposes import CATEGORIES, LEGAL_BASES, STORAGE, PurposeTerms
from services.portal.web import forms

JURISDICTION = re.compile(r"[A-Z]{2}(-[A-Z0-9]{1,3})?")
PROCESSOR = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
EVENT_TYPE = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){1,5}")
SUBJECT_REF = re.compile(r"[0-9a-f]{64}")
TOKEN = re.compile(r"[A-Za-z0-9_=.-]{1,1024}")
REJECTION_CODE = re.compile(r"[a-z][a-z0-9-]{1,63}")
NUMBER = re.compile(r"[0-9]{1,18}")
DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
DAYS = re.compile(r"[0-9]{1,4}")
MAX_NOTE = 2000
MAX_NOTICE = 20_000  # one language's notice text
# Where a person may complain, offered with every rejection (the DPO may write another).
COMPLAINT_ROUTES = {"CN": "Cyberspace Administration of China (CAC), 12377.cn",
                    "US-CA": "California Privacy Protection Agency, cppa.ca.gov"}


class Refusal(Exception):
    """A page's answer in place of what was asked: the refusal page of this kind, with this status."""

    def __init__(self, kind: str, status: int) -> None:
        super().__init__(kind)
        self.kind, self.status = kind, status


def query(request: Request, name: str, pattern: re.Pattern) -> str:
    value = request.query_params.get(name, "")
    if value and not pattern.fullmatch(value):
        raise Refusal("form", 400)
    return value


def enum_of(enum, value: str):
    if not value:
        return None
    found = next((member for member in enum if member.value == value), None)
    if found is None:
        raise Refusal("form", 400)
    return found


def day(value: str, end_of_day: bool = False) -> datetime | None:
    """A date as a date field sends it (YYYY-MM-DD, UTC); the end of that day for an "until"."""
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise Refusal("form", 400) from None
    return day + timedelta(days=1) if end_of_day else day


def controller_query(chosen: str) -> str:
    return f"controller={quote(chosen)}&" if chosen else ""


def purpose_terms(form, controller_id: str) -> tuple[PurposeTerms | None, str]:
    """The purpose the register form describes, or None and what is wrong (consent checks the rest)."""
    text = {name: str(form.get(name, "")).strip() for name in (
        "purpose_id", "name", "description", "storage", "retention_days", "legal_basis", "alternative",
        "minimum_age", "pia_reference", "recipients", "withdrawal_method", "form_key")}
    categories = tuple(str(c) for c in form.getlist("categories"))
    recipients = tuple(r.strip() for r in text["recipients"].split(",") if r.strip())
    problems = [name for name, ok in (
        ("purpose_id", forms.FIELD.fullmatch(text["purpose_id"])),
        ("categories", categories and set(categories) <= set(CATEGORIES)),
        ("storage", text["storage"] in STORAGE), ("legal_basis", text["legal_basis"] in LEGAL_BASES),
        ("retention_days", re.fullmatch(r"[0-9]{1,5}", text["retention_days"]) and int(text["retention_days"]) > 0),
        ("minimum_age", re.fullmatch(r"[0-9]{0,2}", text["minimum_age"])),
        ("recipients", all(forms.FIELD.fullmatch(r) for r in recipients)),
        ("form_key", forms.FORM_KEY.fullmatch(text["form_key"]))) if not ok]
    if problems:
        return None, ", ".join(problems)
    return PurposeTerms(text["purpose_id"], controller_id, text["name"], text["description"], categories,
                        text["storage"], int(text["retention_days"]), text["legal_basis"], text["alternative"],
                        int(text["minimum_age"] or 0), text["pia_reference"], recipients,
                        text["withdrawal_method"]), ""


