"""The portal's web pages: server-rendered, every one usable without JavaScript. A controller's portal
lives under its id (/<controller>/...), and a session opens that portal only.

Nothing personal goes into a URL (a sign-in link carries a random secret, nothing else) or a log line."""

import asyncio
import base64
import json
import time
import uuid
from pathlib import Path

from urllib.parse import quote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from services.common.logging import get_logger
from services.portal.domain import errors
from services.portal.domain.consents import Controller
from services.portal.domain.requests import Kind
from services.portal.domain.sign_in import Session
from services.portal.service.codes import CodeSignIn
from services.portal.service.consents import MyConsents
from services.portal.service.metrics import PublicMetrics
from services.portal.service.requests import MyRequests
from services.portal.service.sign_in import SignIn
from services.portal.web.guard import (
    LANGUAGE_COOKIE, SESSION_COOKIE, BodyLimit, CsrfTokens, ExportLinks, SecurityHeaders, portal_path,
)
from services.portal.web.i18n import Pages, choose
from services.portal.web import forms
from services.portal.web.limits import RateLimits
from services.portal.web.sign_in_pages import SignInPages

log = get_logger(__name__)
LIVE_CASE = "case-live"  # the part of a case page htmx refreshes (templates/case.html)
# Plain words for the platform's refusals a person can meet here; any other is a general refusal.
REFUSALS = ("NOTICE_OUTDATED", "NOTICE_HASH_MISMATCH", "GUARDIAN_CONSENT_REQUIRED", "WRITTEN_RELEASE_REQUIRED",
            "SUBJECT_ERASED", "CONSENT_NOT_FOUND", "CONSENT_NOT_ACTIVE")


class Portal(SignInPages):
    def __init__(self, sign_in: SignIn, consents: MyConsents, requests: MyRequests, platform_controller,
                 csrf: CsrfTokens, exports: ExportLinks, limits: RateLimits, secure_cookies: bool, pages: Pages,
                 codes: CodeSignIn | None = None, metrics: PublicMetrics | None = None) -> None:
        """`platform_controller(id)`: the registered controller (errors.NotFound for another id);
        `limits`: per minute and address, "sign-in" attempts, other "change"s and "page"s; `codes`:
        sign-in by e-mail code, if mail is set up."""
        self._sign_in, self._consents, self._requests = sign_in, consents, requests
        self._controller, self._csrf, self._exports, self._secure = platform_controller, csrf, exports, secure_cookies
        self._limits, self._pages, self._codes, self._metrics = limits, pages, codes, metrics

    def app(self, hsts: bool, first: list[Route] = (), allowances: dict[str, int] | None = None) -> ASGIApp:
        """The pages, inside the security headers (which so cover the error pages too) and the body limit;
        `first`: routes matched before a controller's (the console's, under /console/), `allowances`:
        larger bodies for paths under these prefixes (guard.BodyLimit)."""
        routes = [
            *first,
            Route("/{controller}/", self.home),
            Route("/{controller}/sign-in/code", self.code_sign_in, methods=["GET", "POST"]),
            Route("/{controller}/sign-in/code/check", self.code_check, methods=["POST"]),
            Route("/{controller}/sign-in/{token}", self.sign_in_page),
            Route("/{controller}/sign-in", self.sign_in, methods=["POST"]),
            Route("/{controller}/sign-out", self.sign_out, methods=["POST"]),
            Route("/{controller}/language", self.language),
            Route("/{controller}/metrics", self.metrics),
            Route("/{controller}/consents", self.consents),
            Route("/{controller}/consents/{purpose}/grant", self.grant, methods=["GET", "POST"]),
            Route("/{controller}/consents/{purpose}/withdraw", self.withdraw, methods=["GET", "POST"]),
            Route("/{controller}/consents/{purpose}/receipt", self.receipt),
            Route("/{controller}/consents/{purpose}/receipt.{kind}", self.receipt_file),
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
        app.add_middleware(BodyLimit, allowances)  # inside the error handler, which so never sees a body cut short
        return SecurityHeaders(app, hsts=hsts)

    # Pages

    async def metrics(self, request: Request) -> Response:
        """Public: how many requests the controller received and answered each year, and how fast."""
        async def page(controller: Controller, language: str) -> Response:
            if self._metrics is None:
                raise errors.NotFound()
            return self._page(request, controller, language, "metrics.html",
                              years=await self._metrics.years(controller.controller_id),
                              signed_in=await self._session(request, controller) is not None)
        return await self._in_portal(request, page)

    async def consents(self, request: Request) -> Response:
        async def page(controller: Controller, session: Session, secret: str, language: str) -> Response:
            ward = forms.ward(request)
            cards = await self._consents.cards(session, language, ward)
            return self._page(request, controller, language, "consents.html", cards=cards, ward=ward,
                              wards=session.wards, csrf=self._csrf.token(secret), signed_in=True,
                              done=request.query_params.get("done"))
        return await self._signed_in(request, page)

    async def grant(self, request: Request) -> Response:
        async def page(controller: Controller, session: Session, secret: str, language: str) -> Response:
            purpose_id = forms.purpose_id(request)
            ward = forms.ward(request)
            back = portal_path(controller.controller_id, f"consents?for={ward}")
            if request.method == "POST":
                form = await request.form()
                age = str(form.get("age", "")).strip()
                shown, key = str(form.get("notice_hash", "")), str(form.get("form_key", ""))
                if not (forms.AGE.fullmatch(age) and 0 < int(age) <= 150):
                    card = await self._consents.card(session, purpose_id, language, ward)
                    return self._page(request, controller, language, "grant.html", card=card, signed_in=True,
                                      ward=ward, csrf=self._csrf.token(secret), form_key=key, age_error=True,
                                      status=400)
                if not (forms.SHA256_HEX.fullmatch(shown) and forms.FORM_KEY.fullmatch(key)):
                    return self._refusal(request, controller, language, "form", 400, signed_in=True)
                await self._consents.grant(session, secret, purpose_id, shown, language, int(age), key, ward)
                return forms.see_other(back + "&done=granted")
            card = await self._consents.card(session, purpose_id, language, ward)
            if not card.may_grant:
                return forms.see_other(back)
            return self._page(request, controller, language, "grant.html", card=card, signed_in=True, ward=ward,
                              csrf=self._csrf.token(secret), form_key=str(uuid.uuid4()), age_error=False)
        return await self._signed_in(request, page, form=request.method == "POST")

    async def withdraw(self, request: Request) -> Response:
        async def page(controller: Controller, session: Session, secret: str, language: str) -> Response:
            purpose_id = forms.purpose_id(request)
            ward = forms.ward(request)
            back = portal_path(controller.controller_id, f"consents?for={ward}")
            if request.method == "POST":
                key = str((await request.form()).get("form_key", ""))
                if not forms.FORM_KEY.fullmatch(key):
                    return self._refusal(request, controller, language, "form", 400, signed_in=True)
                await self._consents.withdraw(session, secret, purpose_id, key, ward)
                return forms.see_other(back + "&done=withdrawn")
            card = await self._consents.card(session, purpose_id, language, ward)
            if not card.may_withdraw:
                return forms.see_other(back)
            return self._page(request, controller, language, "withdraw.html", card=card, signed_in=True, ward=ward,
                              csrf=self._csrf.token(secret), form_key=str(uuid.uuid4()))
        return await self._signed_in(request, page, form=request.method == "POST")

    async def receipt(self, request: Request) -> Response:
        async def page(controller: Controller, session: Session, secret: str, language: str) -> Response:
            purpose_id, ward = forms.purpose_id(request), forms.ward(request)
            card, receipt = await asyncio.gather(self._consents.card(session, purpose_id, language, ward),
                                                 self._consents.receipt(session, purpose_id, ward))
            return self._page(request, controller, language, "receipt.html", card=card, ward=ward, signed_in=True,
                              receipt_id=json.loads(receipt.receipt_json)["consentReceiptID"],
                              key_id=receipt.key_id, csrf=self._csrf.token(secret))
        return await self._signed_in(request, page)

    async def receipt_file(self, request: Request) -> Response:
        """The receipt to keep: .json, exactly as signed, with its signature and the public key that
        checks it; .html, consent's readable page, as a download, so its own style applies on the
        person's device and never within the portal's pages."""
        async def download(controller: Controller, session: Session, secret: str, language: str) -> Response:
            purpose_id, ward, kind = forms.purpose_id(request), forms.ward(request), request.path_params["kind"]
            if kind not in ("json", "html"):
                raise errors.NotFound()
            r = await self._consents.receipt(session, purpose_id, ward)
            name = f"receipt-{purpose_id}.{kind}"
            if kind == "html":
                return forms.attachment(await self._consents.readable(r, language), name, "text/html")
            body = {"receipt": json.loads(r.receipt_json), "receipt_json": r.receipt_json.decode(),
                    "signature": base64.b64encode(r.signature).decode(), "key_id": r.key_id,
                    "public_key_pem": await self._consents.receipt_key()}
            return forms.attachment(json.dumps(body, ensure_ascii=False, indent=2), name)
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
                filed = forms.filing(form)
                if filed is None:
                    return self._refusal(request, controller, language, "form", 400, signed_in=True)
                kind, purpose_id, corrections, details, key = filed
                if kind is Kind.WITHDRAWAL:
                    # The withdrawal itself is consent's (the record, the history, the gate's answer);
                    # dsr opens the request that deletes the purpose's data from its event.
                    await self._consents.withdraw(session, secret, purpose_id, key)
                    return forms.see_other(portal_path(controller.controller_id, "requests?done=withdrawn"))
                case = await self._requests.file(session, secret, kind, purpose_id, corrections, details, key)
                return forms.see_other(portal_path(controller.controller_id, f"requests/{case.request_id}?done=filed"))
            cards = await self._consents.cards(session, language)
            return self._page(request, controller, language, "new_request.html", kinds=list(Kind),
                              withdrawable=[c.purpose for c in cards if c.may_withdraw], form_key=str(uuid.uuid4()),
                              csrf=self._csrf.token(secret), signed_in=True)
        return await self._signed_in(request, page, form=request.method == "POST")

    async def case(self, request: Request) -> Response:
        async def page(controller: Controller, session: Session, secret: str, language: str) -> Response:
            case = await self._requests.case(session, forms.request_id(request))
            export = self._exports.query(secret, case.request_id, time.time()) if case.has_export else ""
            return self._page(request, controller, language, "case.html", case=case, export_query=export,
                              done=request.query_params.get("done"), csrf=self._csrf.token(secret), signed_in=True)
        return await self._signed_in(request, page)

    async def certificate(self, request: Request) -> Response:
        """The deletion certificate as keyvault signed it, with its signature, to keep or to check."""
        async def download(controller: Controller, session: Session, secret: str, language: str) -> Response:
            case = await self._requests.case(session, forms.request_id(request))
            if not case.certificate:
                raise errors.NotFound()
            body = {"certificate": json.loads(case.certificate),
                    "certificate_json": case.certificate.decode(), "signature": case.certificate_signature.hex()}
            return forms.attachment(json.dumps(body, ensure_ascii=False, indent=2), f"deletion-{case.request_id}.json")
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
            request_id = forms.request_id(request)
            return forms.attachment((await self._export(request, session, secret)).decode(), f"export-{request_id}.json")
        return await self._signed_in(request, download)

    async def _export(self, request: Request, session: Session, secret: str) -> bytes:
        """The export behind a link of this session that has not expired; NotFound otherwise."""
        request_id = forms.request_id(request)
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
            if not forms.FIELD.fullmatch(request.path_params["controller"]):
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
                return forms.see_other(home)
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
