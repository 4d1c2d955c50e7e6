"""The portal's web pages: server-rendered, every one usable without JavaScript. A controller's portal
lives under its id (/<controller>/...), and a session opens that portal only.

Nothing personal goes into a URL (a sign-in link carries a random secret, nothing else) or a log line."""

import re
import uuid
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from services.common.logging import get_logger
from services.portal.domain import errors
from services.portal.domain.consents import Controller
from services.portal.domain.sign_in import Session, new_secret
from services.portal.service.consents import MyConsents
from services.portal.service.sign_in import SignIn
from services.portal.web.guard import (
    SESSION_COOKIE, VISITOR_COOKIE, CsrfTokens, SecurityHeaders, cookie_options, portal_path,
)
from services.portal.web.i18n import LANGUAGES, Pages, choose

log = get_logger(__name__)
LANGUAGE_COOKIE = "lang"
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
FORM_KEY = re.compile(r"[0-9a-f-]{36}")
# Plain words for the platform's refusals a person can meet here; any other is a general refusal.
REFUSALS = ("NOTICE_OUTDATED", "NOTICE_HASH_MISMATCH", "GUARDIAN_CONSENT_REQUIRED", "WRITTEN_RELEASE_REQUIRED",
            "SUBJECT_ERASED", "CONSENT_NOT_FOUND")


class Portal:
    def __init__(self, sign_in: SignIn, consents: MyConsents, platform_controller, csrf: CsrfTokens,
                 secure_cookies: bool) -> None:
        """`platform_controller(id)`: the registered controller (errors.NotFound for another id)."""
        self._sign_in, self._consents, self._controller = sign_in, consents, platform_controller
        self._csrf, self._secure = csrf, secure_cookies
        self._pages = Pages()

    def app(self, hsts: bool) -> Starlette:
        routes = [
            Route("/{controller}/", self.home),
            Route("/{controller}/sign-in/{token}", self.sign_in_page),
            Route("/{controller}/sign-in", self.sign_in, methods=["POST"]),
            Route("/{controller}/sign-out", self.sign_out, methods=["POST"]),
            Route("/{controller}/language", self.language),
            Route("/{controller}/consents", self.consents),
            Route("/{controller}/consents/{purpose}/grant", self.grant, methods=["GET", "POST"]),
            Route("/{controller}/consents/{purpose}/withdraw", self.withdraw, methods=["GET", "POST"]),
            Mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static"),
        ]
        app = Starlette(routes=routes, exception_handlers={404: self._not_found, 405: self._not_found,
                                                           500: self._failed})
        app.add_middleware(SecurityHeaders, hsts=hsts)
        return app

    # Pages

    async def home(self, request: Request) -> Response:
        async def page(controller: Controller, language: str) -> Response:
            if await self._session(request, controller) is not None:
                return _see_other(portal_path(controller.controller_id, "consents"))
            return self._page(request, controller, language, "home.html")
        return await self._in_portal(request, page)

    async def sign_in_page(self, request: Request) -> Response:
        """The link lands here and asks for one click: a link opened by a mail scanner or a preview uses nothing."""
        async def page(controller: Controller, language: str) -> Response:
            visitor = new_secret()
            response = self._page(request, controller, language, "sign_in.html", token=request.path_params["token"],
                                  csrf=self._csrf.token(visitor))
            response.set_cookie(VISITOR_COOKIE, visitor, max_age=600, **cookie_options(controller.controller_id,
                                                                                       self._secure))
            return response
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
            log.info("portal sign-in", controller_id=controller.controller_id, verified_by=session.verified_by)
            response = _see_other(portal_path(controller.controller_id, "consents"))
            options = cookie_options(controller.controller_id, self._secure)
            response.set_cookie(SESSION_COOKIE, secret, **options)
            response.delete_cookie(VISITOR_COOKIE, **options)
            if session.language in LANGUAGES and LANGUAGE_COOKIE not in request.cookies:
                response.set_cookie(LANGUAGE_COOKIE, session.language, max_age=365 * 86400, **options)
            return response
        return await self._in_portal(request, act)

    async def sign_out(self, request: Request) -> Response:
        async def act(controller: Controller, session: Session, secret: str, language: str) -> Response:
            await self._sign_in.sign_out(secret)
            response = _see_other(portal_path(controller.controller_id))
            response.delete_cookie(SESSION_COOKIE, **cookie_options(controller.controller_id, self._secure))
            return response
        return await self._signed_in(request, act, form=True)

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
            cards = await self._consents.cards(session, language)
            return self._page(request, controller, language, "consents.html", cards=cards,
                              csrf=self._csrf.token(secret), signed_in=True, done=request.query_params.get("done"))
        return await self._signed_in(request, page)

    async def grant(self, request: Request) -> Response:
        async def page(controller: Controller, session: Session, secret: str, language: str) -> Response:
            purpose_id = request.path_params["purpose"]
            if request.method == "POST":
                form = await request.form()
                age = str(form.get("age", "")).strip()
                shown, key = str(form.get("notice_hash", "")), str(form.get("form_key", ""))
                if not (age.isdigit() and 0 < int(age) <= 150):
                    card = await self._consents.card(session, purpose_id, language)
                    return self._page(request, controller, language, "grant.html", card=card, signed_in=True,
                                      csrf=self._csrf.token(secret), form_key=key, age_error=True, status=400)
                if not (SHA256_HEX.fullmatch(shown) and FORM_KEY.fullmatch(key)):
                    return self._refusal(request, controller, language, "form", 400, signed_in=True)
                await self._consents.grant(session, secret, purpose_id, shown, language, int(age), key)
                return _see_other(portal_path(controller.controller_id, "consents?done=granted"))
            card = await self._consents.card(session, purpose_id, language)
            if not card.may_grant:
                return _see_other(portal_path(controller.controller_id, "consents"))
            return self._page(request, controller, language, "grant.html", card=card, signed_in=True,
                              csrf=self._csrf.token(secret), form_key=str(uuid.uuid4()), age_error=False)
        return await self._signed_in(request, page, form=request.method == "POST")

    async def withdraw(self, request: Request) -> Response:
        async def page(controller: Controller, session: Session, secret: str, language: str) -> Response:
            purpose_id = request.path_params["purpose"]
            if request.method == "POST":
                key = str((await request.form()).get("form_key", ""))
                if not FORM_KEY.fullmatch(key):
                    return self._refusal(request, controller, language, "form", 400, signed_in=True)
                await self._consents.withdraw(session, secret, purpose_id, key)
                return _see_other(portal_path(controller.controller_id, "consents?done=withdrawn"))
            card = await self._consents.card(session, purpose_id, language)
            if not card.may_withdraw:
                return _see_other(portal_path(controller.controller_id, "consents"))
            return self._page(request, controller, language, "withdraw.html", card=card, signed_in=True,
                              csrf=self._csrf.token(secret), form_key=str(uuid.uuid4()))
        return await self._signed_in(request, page, form=request.method == "POST")

    # The portal around every page: its controller, its language, the session, the refusals

    async def _in_portal(self, request: Request, page) -> Response:
        language = choose(request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language", ""))
        try:
            controller = await self._controller(request.path_params["controller"])
        except errors.NotFound:
            return self._refusal(request, None, language, "no_portal", 404)
        except errors.PlatformUnavailable:
            return self._refusal(request, None, language, "unavailable", 503)
        try:
            return await page(controller, language)
        except errors.PlatformUnavailable:
            return self._refusal(request, controller, language, "unavailable", 503)
        except errors.NotFound:
            return self._refusal(request, controller, language, "not_found", 404)
        except errors.Refused as refused:
            log.info("portal change refused", reason=refused.reason)
            kind = refused.reason.lower() if refused.reason in REFUSALS else "refused"
            return self._refusal(request, controller, language, kind, 409, signed_in=True)

    async def _session(self, request: Request, controller: Controller) -> tuple[Session, str] | None:
        secret = request.cookies.get(SESSION_COOKIE)
        session = await self._sign_in.session(controller.controller_id, secret) if secret else None
        return (session, secret) if session and secret else None

    async def _signed_in(self, request: Request, page, form: bool = False) -> Response:
        """The page for a live session of this portal; signed out, the portal's home. A form must carry
        the session's CSRF token, or it changes nothing."""
        async def within(controller: Controller, language: str) -> Response:
            found = await self._session(request, controller)
            if found is None:
                return _see_other(portal_path(controller.controller_id))
            session, secret = found
            if form and not self._csrf.valid(secret, str((await request.form()).get("csrf", ""))):
                return self._refusal(request, controller, language, "csrf", 403, signed_in=True)
            return await page(controller, session, secret, language)
        return await self._in_portal(request, within)

    def _page(self, request: Request, controller: Controller | None, language: str, template: str,
              status: int = 200, signed_in: bool = False, **context) -> HTMLResponse:
        html = self._pages.render(language, template, controller=controller, path=request.url.path,
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
