"""What the pages read from a request (each field by its pattern: anything else is a page that does not
exist, or a form that changes nothing) and the plain answers they give besides a page."""

import re

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from services.portal.domain import errors
from services.portal.domain.requests import Kind

SHA256_HEX = re.compile(r"[0-9a-f]{64}")
FORM_KEY = re.compile(r"[0-9a-f-]{36}")
CODE = re.compile(r"[0-9]{6}")
REQUEST_ID = re.compile(r"[0-9a-f-]{36}")
FIELD = re.compile(r"[A-Za-z0-9._:@-]{1,128}")  # what a correction names, as dsr takes it
MAX_DETAILS = 4000
AGE, WARD = re.compile(r"[0-9]{1,3}"), re.compile(r"[0-9]{1,2}")


def see_other(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def attachment(text: str, filename: str, media_type: str = "application/json") -> Response:
    return Response(text, media_type=media_type,
                    headers={"content-disposition": f'attachment; filename="{filename}"'})


def purpose_id(request: Request) -> str:
    """A purpose id as the pages link it; anything else is a purpose that does not exist."""
    purpose_id = request.path_params["purpose"]
    if not FIELD.fullmatch(purpose_id):
        raise errors.NotFound()
    return purpose_id


def ward(request: Request) -> int:
    """Whose consents a page is about, as its `for` says: 0 (or none) the person's own, n their n-th ward's."""
    number = request.query_params.get("for", "0")
    if not WARD.fullmatch(number):
        raise errors.NotFound()
    return int(number)


def request_id(request: Request) -> str:
    """A case number as the portal shows it; anything else is a case that does not exist."""
    request_id = request.path_params["request_id"]
    if not REQUEST_ID.fullmatch(request_id):
        raise errors.NotFound()
    return request_id


def filing(form) -> tuple[Kind, str, dict[str, str], str, str] | None:
    """A request form as the page sends it, or None if it is not one (nothing is filed)."""
    kind = next((k for k in Kind if k.value == form.get("kind")), None)
    purpose_id, details = str(form.get("purpose_id", "")), str(form.get("details", "")).strip()
    field, value = str(form.get("correct_field", "")).strip(), str(form.get("correct_value", "")).strip()
    key = str(form.get("form_key", ""))
    if kind is None or not FORM_KEY.fullmatch(key) or len(details) > MAX_DETAILS:
        return None
    # One form for every kind, working without script: what another kind asks is left aside.
    purpose_id = purpose_id if kind is Kind.WITHDRAWAL else ""
    if kind is Kind.WITHDRAWAL and not FIELD.fullmatch(purpose_id):
        return None
    corrections = {field: value} if kind is Kind.CORRECTION else {}
    if kind is Kind.CORRECTION and not (FIELD.fullmatch(field) and 0 < len(value) <= 1000):
        return None
    return kind, purpose_id, corrections, details, key
