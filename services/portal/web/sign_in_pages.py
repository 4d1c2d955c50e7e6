"""The pages before and around a session: the start page, sign-in by the app's link or by a mailed code,
sign-out and the language switcher. A mixin of Portal (web/app.py), whose frame (_in_portal,
_signed_in, _page, _refusal, _session) every page runs in."""

from starlette.requests import Request
from starlette.responses import Response

from services.common.logging import get_logger
from services.portal.domain import errors
from services.portal.domain.codes import CODE_MINUTES
from services.portal.domain.consents import Controller
from services.portal.domain.sign_in import Session, new_secret
from services.portal.web.forms import CODE, see_other
from services.portal.web.guard import (
    LANGUAGE_COOKIE, SESSION_COOKIE, VISITOR_COOKIE, cookie_options, portal_path,
)
from services.portal.web.i18n import LANGUAGES

log = get_logger(__name__)


class SignInPages:
    async def home(self, request: Request) -> Response:
        async def page(controller: Controller, language: str) -> Response:
            if await self._session(request, controller) is not None:
                return see_other(portal_path(controller.controller_id, "consents"))
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
            form = await self._visitor_form(request)
            if form is None:
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
            form = await self._visitor_form(request)
            if form is None:
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
            form, visitor = await self._visitor_form(request), request.cookies.get(VISITOR_COOKIE)
            if form is None:
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
        response = see_other(portal_path(controller.controller_id, "consents"))
        options = cookie_options(controller.controller_id, self._secure)
        response.set_cookie(SESSION_COOKIE, secret, **options)
        response.delete_cookie(VISITOR_COOKIE, **options)
        if session.language in LANGUAGES and LANGUAGE_COOKIE not in request.cookies:
            response.set_cookie(LANGUAGE_COOKIE, session.language, max_age=365 * 86400, **options)
        return response

    async def _visitor_form(self, request: Request):
        """A sign-in form, if it carries the token bound to this visitor's cookie; None otherwise."""
        form = await request.form()
        return form if self._csrf.valid(request.cookies.get(VISITOR_COOKIE), str(form.get("csrf", ""))) else None

    def _visiting(self, response: Response, controller: Controller, visitor: str) -> Response:
        """The visitor cookie a sign-in form's CSRF token is bound to (before anyone is signed in)."""
        response.set_cookie(VISITOR_COOKIE, visitor, max_age=600, **cookie_options(controller.controller_id,
                                                                                   self._secure))
        return response

    async def sign_out(self, request: Request) -> Response:
        async def act(controller: Controller, session: Session, secret: str, language: str) -> Response:
            await self._sign_in.sign_out(secret)
            response = see_other(portal_path(controller.controller_id))
            response.delete_cookie(SESSION_COOKIE, **cookie_options(controller.controller_id, self._secure))
            return response
        return await self._signed_in(request, act, form=True, changes=False)

    async def language(self, request: Request) -> Response:
        """The switcher: a plain link that remembers the choice and goes back to the page it was on."""
        async def act(controller: Controller, _language: str) -> Response:
            chosen = request.query_params.get("to", "")
            back = request.query_params.get("back", "")
            home = portal_path(controller.controller_id)
            response = see_other(back if back.startswith(home) and "//" not in back else home)
            if chosen in LANGUAGES:
                response.set_cookie(LANGUAGE_COOKIE, chosen, max_age=365 * 86400,
                                    **cookie_options(controller.controller_id, self._secure))
            return response
        return await self._in_portal(request, act)
