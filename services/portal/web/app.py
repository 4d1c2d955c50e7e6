"""The portal's web pages: server-rendered, every one usable without JavaScript. A controller's portal
lives under its id (/<controller>/...), and a session opens that portal only.

Nothing personal goes into a URL (a sign-in link carries a random secret, nothing else) or a log line."""

import base64
import json
import re
import time
import uuid
from pathlib import Path

from urllib.parse import quote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from services.common.logging import get_logger
from services.portal.domain import errors
from services.portal.domain.consents import Controller
from services.portal.domain.codes import CODE_MINUTES
from services.portal.domain.requests import Kind
from services.portal.domain.sign_in import Session, new_secret
from services.portal.service.codes import CodeSignIn
from services.portal.service.consents import MyConsents
from services.portal.service.requests import MyRequests
from services.portal.service.sign_in import SignIn
from services.portal.web.guard import (
    SESSION_COOKIE, VISITOR_COOKIE, BodyLimit, CsrfTokens, ExportLinks, SecurityHeaders, cookie_options,
    portal_path,
)
from services.portal.web.i18n import LANGUAGES, Pages, choose
from services.portal.web.limits import RateLimits

log = get_logger(__name__)
LANGUAGE_COOKIE = "lang"
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
FORM_KEY = re.compile(r"[0-9a-f-]{36}")
CODE = re.compile(r"[0-9]{6}")
REQUEST_ID = re.compile(r"[0-9a-f-]{36}")
FIELD = re.compile(r"[A-Za-z0-9._:@-]{1,128}")  # what a correction names, as dsr takes it
MAX_DETAILS = 4000
AGE, WARD = re.compile(r"[0-9]{1,3}"), re.compile(r"[0-9]{1,2}")
LIVE_CASE = "case-live"  # the part of a case page htmx refreshes (templates/case.html)
# Plain words for the platform's refusals a person can meet here; any other is a general refusal.
REFUSALS = ("NOTICE_OUTDATED", "NOTICE_HASH_MISMATCH", "GUARDIAN_CONSENT_REQUIRED", "WRITTEN_RELEASE_REQUIRED",
            "SUBJECT_ERASED", "CONSENT_NOT_FOUND", "CONSENT_NOT_ACTIVE")


class Portal:
    def __init__(self, sign_in: SignIn, consents: MyConsents, requests: MyRequests, platform_controller,
                 csrf: CsrfTokens, exports: ExportLinks, limits: RateLimits, secure_cookies: bool, pages: Pages,
                 codes: CodeSignIn | None = None) -> None:
        """`platform_controller(id)`: the registered controller (errors.NotFound for another id);
        `limits`: per minute and address, "sign-in" attempts, other "change"s and "page"s; `codes`:
        sign-in by e-mail code, if mail is set up."""
        self._sign_in, self._consents, self._requests = sign_in, consents, requests
        self._controller, self._csrf, self._exports, self._secure = platform_controller, csrf, exports, secure_cookies
        self._limits, self._pages, self._codes = limits, pages, codes

    def app(self, hsts: bool) -> ASGIApp:
        """The pages, inside the security headers (which so cover the error pages too) and the body limit."""
        routes = [
            Route("/{controller}/", self.home),
            Route("/{controller}/sign-in/code", self.code_sign_in, methods=["GET", "POST"]),
            Route("/{controller}/sign-in/code/check", self.code_check, methods=["POST"]),
            Route("/{controller}/sign-in/{token}", self.sign_in_page),
            Route("/{controller}/sign-in", self.sign_in, methods=["POST"]),
            Route("/{controller}/sign-out", self.sign_out, methods=["POST"]),
            Route("/{controller}/language", self.language),
            Route("/{controller}/consents", self.consents),
            Route("/{controller}/consents/{purpose}/grant", self.grant, methods=["GET", "POST"]),
            Route("/{controller}/consents/{purpose}/withdraw", self.withdraw, methods=["GET", "POST"]),
            Route("/{controller}/consents/{purpose}/receipt", self.receipt),
            Route("/{controller}/consents/{purpose}/receipt.json", self.receipt_json),
            Route("/{controller}/consents/{purpose}/receipt.html", self.receipt_html),
            Route("/{controller}/requests", self.requests),
            Route("/{controller}/requests/new", self.new_request, methods=["GET", "POST"]),
            Route("/{controller}/requests/{request_id}", self.case),
            Route("/{controller}/requests/{request_id}/certificate.json", self.certificate),
            Route("/{controller}/requests/{request_id}/export", self.export_page),
            Route("/{controller}/requests/{request_id}/export.json", self.export_json),
            Mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static"),
        ]
        app = Starlette(routes=routes, exception_handlers={404: self._not_found, 405: self._not_found,
                                                           500: self._failed})
        app.add_middleware(BodyLimit)  # inside the error handler, which so never sees a body cut short
        return SecurityHeaders(app, hsts=hsts)

    # Pages

    async def home(self, request: Request) -> Response:
        async def page(controller: Controller, language: str) -> Response:
            if await self._session(request, controller) is not None:
                return _see_other(portal_path(controller.controller_id, "consents"))
            return self._page(request, controller, language, "home.html", by_code=self._codes is not None)
        return await self._in_portal(request, page)

    async def sign_in_page(self, request: Request) -> Response:
        """The link lands here and asks for one click: a link opened by a mail scanner or a preview uses nothing."""
        async def page(controller: Controller, language: str) -> Response:
            visitor = new_secret()
            return self._visiting(self._page(request, controller, language, "sign_in.html",
                                             token=request.path_params["token"], csrf=self._csrf.token(visitor)),
                                  controller, visitor)
        return await self._in_portal(request, page)

    async def sign_in(self, request: Request) -> Response:
        async def act(controller: Controller, language: str) -> Response:
            form = await request.form()
            if not self._csrf.valid(request.cookies.get(VISITOR_COOKIE), str(form.get("csrf", ""))):
                return self._refusal(request, controller, language, "csrf", 403)
            try:
                secret, session = await self._sign_in.redeem(controller.controller_id, str(form.get("token", "")))
            except errors.LinkNotValid:
                return self._refusal(request, controller, language, "link", 400)
            return await self._opened(request, controller, secret, session)
        return await self._in_portal(request, act)

    async def code_sign_in(self, request: Request) -> Response:
        """GET: the form for the address; POST: a code mailed to it if it is registered, and the form for
        the code either way."""
        async def page(controller: Controller, language: str) -> Response:
            if self._codes is None:
                raise errors.NotFound()
            visitor = request.cookies.get(VISITOR_COOKIE) or new_secret()
            if request.method == "GET":
                return self._visiting(self._page(request, controller, language, "code_ask.html", typed="",
                                                 address_error=False, csrf=self._csrf.token(visitor)),
                                      controller, visitor)
            form = await request.form()
            if not self._csrf.valid(request.cookies.get(VISITOR_COOKIE), str(form.get("csrf", ""))):
                return self._refusal(request, controller, language, "csrf", 403)
            typed = str(form.get("email", ""))[:1000]
            try:
                challenge = await self._codes.send(controller, typed, language)
            except errors.AddressNotValid:
                return self._page(request, controller, language, "code_ask.html", typed=typed, address_error=True,
                                  csrf=self._csrf.token(visitor), status=400)
            return self._visiting(self._page(request, controller, language, "code_enter.html", challenge=challenge,
                                             tries_left=0, minutes=CODE_MINUTES, csrf=self._csrf.token(visitor)),
                                  controller, visitor)
        return await self._in_portal(request, page)

    async def code_check(self, request: Request) -> Response:
        async def act(controller: Controller, language: str) -> Response:
            if self._codes is None:
                raise errors.NotFound()
            form = await request.form()
            visitor = request.cookies.get(VISITOR_COOKIE)
            if not self._csrf.valid(visitor, str(form.get("csrf", ""))):
                return self._refusal(request, controller, language, "csrf", 403)
            challenge, code = str(form.get("challenge", "")), str(form.get("code", "")).strip()
            try:
                # Anything but six digits is a wrong code, counted as one.
                secret, session = await self._codes.redeem(controller.controller_id, challenge,
                                                           code if CODE.fullmatch(code) else "")
            except errors.CodeNotValid as wrong:
                if not wrong.tries_left:
                    return self._refusal(request, controller, language, "code", 400)
                return self._page(request, controller, language, "code_enter.html", challenge=challenge,
                                  tries_left=wrong.tries_left, minutes=CODE_MINUTES, csrf=self._csrf.token(str(visitor)),
                                  status=400)
            return await self._opened(request, controller, secret, session)
        return await self._in_portal(request, act)

    async def _opened(self, request: Request, controller: Controller, secret: str, session: Session) -> Response:
        """The answer that holds a new session: the browser's previous person (a shared device) is signed
        out, and the person goes to their consents."""
        if request.cookies.get(SESSION_COOKIE):
            await self._sign_in.sign_out(request.cookies[SESSION_COOKIE])
        log.info("portal sign-in", controller_id=controller.controller_id, verified_by=session.verified_by)
        response = _see_other(portal_path(controller.controller_id, "consents"))
        options = cookie_options(controller.controller_id, self._secure)
        response.set_cookie(SESSION_COOKIE, secret, **options)
        response.delete_cookie(VISITOR_COOKIE, **options)
        if session.language in LANGUAGES and LANGUAGE_COOKIE not in request.cookies:
            response.set_cookie(LANGUAGE_COOKIE, session.language, max_age=365 * 86400, **options)
        return response

    def _visiting(self, response: Response, controller: Controller, visitor: str) -> Response:
        """The visitor cookie a sign-in form's CSRF token is bound to (before anyone is signed in)."""
        response.set_cookie(VISITOR_COOKIE, visitor, max_age=600, **cookie_options(controller.controller_id,
                                                                                   self._secure))
        return response

    async def sign_out(self, request: Request) -> Response:
        async def act(controller: Controller, session: Session, secret: str, language: str) -> Response:
            await self._sign_in.sign_out(secret)
            response = _see_other(portal_path(controller.controller_id))
            response.delete_cookie(SESSION_COOKIE, **cookie_options(controller.controller_id, self._secure))
            return response
        return await self._signed_in(request, act, form=True, changes=False)

    async def language(self, request: Request) -> Response:
        """The switcher: a plain link that remembers the choice and goes back to the page it was on."""
        async def act(controller: Controller, _language: str) -> Response:
            chosen = request.query_params.get("to", "")
            back = request.query_params.get("back", "")
            home = portal_path(controller.controller_id)
            response = _see_other(back if back.startswith(home) and "//" not in back else home)
            if chosen in LANGUAGES:
                response.set_cookie(LANGUAGE_COOKIE, chosen, max_age=365 * 86400,
                                    **cookie_options(controller.controller_id, self._secure))
            return response
        return await self._in_portal(request, act)

    async def consents(self, request: Request) -> Response:
        async def page(controller: Controller, session: Session, secret: str, language: str) -> Response:
            ward = _ward(request.query_params.get("for", "0"))
            cards = await self._consents.cards(session, language, ward)
            return self._page(request, controller, language, "consents.html", cards=cards, ward=ward,
                              wards=session.wards, csrf=self._csrf.token(secret), signed_in=True,
                              done=request.query_params.get("done"))
        return await self._signed_in(request, page)

    async def grant(self, request: Request) -> Response:
        async def page(controller: Controller, session: Session, secret: str, language: str) -> Response:
            purpose_id = _purpose_id(request)
            ward = _ward(request.query_params.get("for", "0"))
            back = portal_path(controller.controller_id, f"consents?for={ward}")
            if request.method == "POST":
                form = await request.form()
                age = str(form.get("age", "")).strip()
                shown, key = str(form.get("notice_hash", "")), str(form.get("form_key", ""))
                if not (AGE.fullmatch(age) and 0 < int(age) <= 150):
                    card = await self._consents.card(session, purpose_id, language, ward)
                    return self._page(request, controller, language, "grant.html", card=card, signed_in=True,
                                      ward=ward, csrf=self._csrf.token(secret), form_key=key, age_error=True,
                                      status=400)
                if not (SHA256_HEX.fullmatch(shown) and FORM_KEY.fullmatch(key)):
                    return self._refusal(request, controller, language, "form", 400, signed_in=True)
                await self._consents.grant(session, secret, purpose_id, shown, language, int(age), key, ward)
                return _see_other(back + "&done=granted")
            card = await self._consents.card(session, purpose_id, language, ward)
            if not card.may_grant:
                return _see_other(back)
            return self._page(request, controller, language, "grant.html", card=card, signed_in=True, ward=ward,
                              csrf=self._csrf.token(secret), form_key=str(uuid.uuid4()), age_error=False)
        return await self._signed_in(request, page, form=request.method == "POST")

    async def withdraw(self, request: Request) -> Response:
        async def page(controller: Controller, session: Session, secret: str, language: str) -> Response:
            purpose_id = _purpose_id(request)
            ward = _ward(request.query_params.get("for", "0"))
            back = portal_path(controller.controller_id, f"consents?for={ward}")
            if request.method == "POST":
                key = str((await request.form()).get("form_key", ""))
                if not FORM_KEY.fullmatch(key):
                    return self._refusal(request, controller, language, "form", 400, signed_in=True)
                await self._consents.withdraw(session, secret, purpose_id, key, ward)
                return _see_other(back + "&done=withdrawn")
            card = await self._consents.card(session, purpose_id, language, ward)
            if not card.may_withdraw:
                return _see_other(back)
            return self._page(request, controller, language, "withdraw.html", card=card, signed_in=True, ward=ward,
                              csrf=self._csrf.token(secret), form_key=str(uuid.uuid4()))
        return await self._signed_in(request, page, form=request.method == "POST")

    async def receipt(self, request: Request) -> Response:
        async def page(controller: Controller, session: Session, secret: str, language: str) -> Response:
            purpose_id, ward = _purpose_id(request), _ward(request.query_params.get("for", "0"))
            card = await self._consents.card(session, purpose_id, language, ward)
            receipt = await self._consents.receipt(session, purpose_id, language, ward)
            return self._page(request, controller, language, "receipt.html", card=card, ward=ward, signed_in=True,
                              receipt_id=json.loads(receipt.receipt_json)["consentReceiptID"],
                              key_id=receipt.key_id, csrf=self._csrf.token(secret))
        return await self._signed_in(request, page)

    async def receipt_json(self, request: Request) -> Response:
        """The receipt exactly as signed, its signature and the public key that checks it, in one file."""
        async def download(controller: Controller, session: Session, secret: str, language: str) -> Response:
            purpose_id, ward = _purpose_id(request), _ward(request.query_params.get("for", "0"))
            r = await self._consents.receipt(session, purpose_id, language, ward)
            body = {"receipt": json.loads(r.receipt_json), "receipt_json": r.receipt_json.decode(),
                    "signature": base64.b64encode(r.signature).decode(), "key_id": r.key_id,
                    "public_key_pem": r.public_key_pem}
            return _attachment(json.dumps(body, ensure_ascii=False, indent=2), f"receipt-{purpose_id}.json")
        return await self._signed_in(request, download)

    async def receipt_html(self, request: Request) -> Response:
        """Consent's readable page of the receipt, to keep: a download, so its own style applies on the
        person's device and never within the portal's pages."""
        async def download(controller: Controller, session: Session, secret: str, language: str) -> Response:
            purpose_id, ward = _purpose_id(request), _ward(request.query_params.get("for", "0"))
            r = await self._consents.receipt(session, purpose_id, language, ward)
            return _attachment(r.readable_html, f"receipt-{purpose_id}.html", "text/html")
        return await self._signed_in(request, download)

    async def requests(self, request: Request) -> Response:
        async def page(controller: Controller, session: Session, secret: str, language: str) -> Response:
            return self._page(request, controller, language, "requests.html", done=request.query_params.get("done"),
                              cases=await self._requests.cases(session), csrf=self._csrf.token(secret), signed_in=True)
        return await self._signed_in(request, page)

    async def new_request(self, request: Request) -> Response:
        async def page(controller: Controller, session: Session, secret: str, language: str) -> Response:
            if request.method == "POST":
                form = await request.form()
                filed = _filing(form)
                if filed is None:
                    return self._refusal(request, controller, language, "form", 400, signed_in=True)
                kind, purpose_id, corrections, details, key = filed
                if kind is Kind.WITHDRAWAL:
                    # The withdrawal itself is consent's (the record, the history, the gate's answer);
                    # dsr opens the request that deletes the purpose's data from its event.
                    await self._consents.withdraw(session, secret, purpose_id, key)
                    return _see_other(portal_path(controller.controller_id, "requests?done=withdrawn"))
                case = await self._requests.file(session, secret, kind, purpose_id, corrections, details, key)
                return _see_other(portal_path(controller.controller_id, f"requests/{case.request_id}?done=filed"))
            cards = await self._consents.cards(session, language)
            return self._page(request, controller, language, "new_request.html", kinds=list(Kind),
                              withdrawable=[c.purpose for c in cards if c.may_withdraw], form_key=str(uuid.uuid4()),
                              csrf=self._csrf.token(secret), signed_in=True)
        return await self._signed_in(request, page, form=request.method == "POST")

    async def case(self, request: Request) -> Response:
        async def page(controller: Controller, session: Session, secret: str, language: str) -> Response:
            case = await self._requests.case(session, _request_id(request))
            export = self._exports.query(secret, case.request_id, time.time()) if case.has_export else ""
            return self._page(request, controller, language, "case.html", case=case, export_query=export,
                              done=request.query_params.get("done"), csrf=self._csrf.token(secret), signed_in=True)
        return await self._signed_in(request, page)

    async def certificate(self, request: Request) -> Response:
        """The deletion certificate as keyvault signed it, with its signature, to keep or to check."""
        async def download(controller: Controller, session: Session, secret: str, language: str) -> Response:
            case = await self._requests.case(session, _request_id(request))
            if not case.certificate:
                raise errors.NotFound()
            body = {"certificate": json.loads(case.certificate),
                    "certificate_json": case.certificate.decode(), "signature": case.certificate_signature.hex()}
            return _attachment(json.dumps(body, ensure_ascii=False, indent=2), f"deletion-{case.request_id}.json")
        return await self._signed_in(request, download)

    async def export_page(self, request: Request) -> Response:
        async def page(controller: Controller, session: Session, secret: str, language: str) -> Response:
            export = json.loads(await self._export(request, session, secret))
            record = export.get("consentry", {})
            sections = [("consents", record.get("consents")), ("history", record.get("consentHistory")),
                        ("key", record.get("keyStatus")), ("audit", record.get("auditEntries")),
                        ("processors", export.get("processors"))]
            return self._page(request, controller, language, "export.html", export=export, signed_in=True,
                              sections=[(name, json.dumps(value, ensure_ascii=False, indent=2) if value else "")
                                        for name, value in sections], csrf=self._csrf.token(secret))
        return await self._signed_in(request, page)

    async def export_json(self, request: Request) -> Response:
        async def download(controller: Controller, session: Session, secret: str, language: str) -> Response:
            request_id = _request_id(request)
            return _attachment((await self._export(request, session, secret)).decode(), f"export-{request_id}.json")
        return await self._signed_in(request, download)

    async def _export(self, request: Request, session: Session, secret: str) -> bytes:
        """The export behind a link of this session that has not expired; NotFound otherwise."""
        request_id = _request_id(request)
        if not self._exports.valid(secret, request_id, request.query_params.get("until", ""),
                                   request.query_params.get("sig", ""), time.time()):
            raise errors.LinkExpired()
        return await self._requests.export(session, request_id)

    # The portal around every page: its controller, its language, the session, the refusals

    async def _in_portal(self, request: Request, page) -> Response:
        language = choose(request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language", ""))
        kind = "page" if request.method != "POST" else "sign-in" if "/sign-in" in request.url.path else "change"
        if not self._limits.allow(request.client.host if request.client else "", kind):
            response = self._refusal(request, None, language, "too_many", 429)
            response.headers["retry-after"] = "60"
            return response
        try:
            if not FIELD.fullmatch(request.path_params["controller"]):
                raise errors.NotFound()
            controller = await self._controller(request.path_params["controller"])
        except (errors.NotFound, errors.Refused):
            return self._refusal(request, None, language, "no_portal", 404)
        except errors.PlatformUnavailable:
            return self._refusal(request, None, language, "unavailable", 503)
        try:
            return await page(controller, language)
        except errors.PlatformUnavailable:
            return self._refusal(request, controller, language, "unavailable", 503)
        except errors.NotFound:
            return self._refusal(request, controller, language, "not_found", 404)
        except errors.LinkExpired:
            return self._refusal(request, controller, language, "export_link", 403, signed_in=True)
        except errors.Refused as refused:
            log.info("portal change refused", reason=refused.reason)
            kind = refused.reason.lower() if refused.reason in REFUSALS else "refused"
            return self._refusal(request, controller, language, kind, 409, signed_in=True)

    async def _session(self, request: Request, controller: Controller) -> tuple[Session, str] | None:
        """htmx's refresh of a case page (its trigger, #case-live) is no sign of the person: it does not keep
        the session from idling out."""
        secret = request.cookies.get(SESSION_COOKIE)
        seen = request.headers.get("hx-trigger") != LIVE_CASE
        session = await self._sign_in.session(controller.controller_id, secret, seen=seen) if secret else None
        return (session, secret) if session and secret else None

    async def _signed_in(self, request: Request, page, form: bool = False, changes: bool = True) -> Response:
        """The page for a live session of this portal; signed out, the portal's home. A form must carry
        the session's CSRF token, or it changes nothing; and one that `changes` something is refused in
        the session of a person deleted since (which only reads until it ends)."""
        async def within(controller: Controller, language: str) -> Response:
            found = await self._session(request, controller)
            if found is None:
                home = portal_path(controller.controller_id)
                if request.headers.get("hx-request"):  # htmx's refresh of a part: the whole page goes home
                    return Response(status_code=200, headers={"hx-redirect": home})
                return _see_other(home)
            session, secret = found
            if form and not self._csrf.valid(secret, str((await request.form()).get("csrf", ""))):
                return self._refusal(request, controller, language, "csrf", 403, signed_in=True)
            if form and changes and session.forgotten:
                return self._refusal(request, controller, language, "forgotten", 409, signed_in=True)
            return await page(controller, session, secret, language)
        return await self._in_portal(request, within)

    def _page(self, request: Request, controller: Controller | None, language: str, template: str,
              status: int = 200, signed_in: bool = False, **context) -> HTMLResponse:
        # The path as portal_path() writes it (cookies are scoped to it); the query, for the switcher's way back.
        path = quote(request.url.path, safe="/")
        html = self._pages.render(language, template, controller=controller, path=path,
                                  back=path + (f"?{request.url.query}" if request.url.query else ""),
                                  signed_in=signed_in, portal_path=portal_path, csrf=context.pop("csrf", ""),
                                  **context)
        return HTMLResponse(html, status_code=status)

    def _refusal(self, request: Request, controller: Controller | None, language: str, kind: str, status: int,
                 signed_in: bool = False) -> HTMLResponse:
        return self._page(request, controller, language, "refusal.html", status=status, kind=kind,
                          signed_in=signed_in and controller is not None)

    async def _not_found(self, request: Request, _exc) -> Response:
        language = choose(request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language", ""))
        return self._refusal(request, None, language, "not_found", 404)

    async def _failed(self, request: Request, exc: Exception) -> Response:
        log.error("portal page failed", error=type(exc).__name__)
        language = choose(request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language", ""))
        return self._refusal(request, None, language, "failed", 500)


def _see_other(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def _attachment(text: str, filename: str, media_type: str = "application/json") -> Response:
    return Response(text, media_type=media_type,
                    headers={"content-disposition": f'attachment; filename="{filename}"'})


def _purpose_id(request: Request) -> str:
    """A purpose id as the pages link it; anything else is a purpose that does not exist."""
    purpose_id = request.path_params["purpose"]
    if not FIELD.fullmatch(purpose_id):
        raise errors.NotFound()
    return purpose_id


def _ward(number: str) -> int:
    """Whose consents a page is about, as its `for` says: 0 (or none) the person's own, n their n-th ward's."""
    if not WARD.fullmatch(number):
        raise errors.NotFound()
    return int(number)


def _request_id(request: Request) -> str:
    """A case number as the portal shows it; anything else is a case that does not exist."""
    request_id = request.path_params["request_id"]
    if not REQUEST_ID.fullmatch(request_id):
        raise errors.NotFound()
    return request_id


def _filing(form) -> tuple[Kind, str, dict[str, str], str, str] | None:
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
