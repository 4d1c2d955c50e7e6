"""The console's pages before and around a session: sign-in with a password and an authenticator code,
or at the organisation's identity provider (OpenID Connect), sign-out and the language switcher. A
mixin of ConsolePages (web/console_pages.py), whose frame (_framed, _signed_in, _render, _cookie,
_session) every page runs in."""

import base64
import hashlib
import hmac
import json
import time
from dataclasses import asdict

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from services.common.logging import get_logger
from services.portal.domain import errors
from services.portal.domain.sign_in import new_secret
from services.portal.domain.staff import ACCOUNT_NAME, MAX_PASSWORD, Flow, StaffSession
from services.portal.web import forms
from services.portal.web.console_forms import Refusal
from services.portal.web.i18n import LANGUAGES

log = get_logger(__name__)
ROOT = "/console/"
STAFF_COOKIE, VISITOR_COOKIE, LANGUAGE_COOKIE = "staff", "staff_visitor", "staff_lang"
FLOW_COOKIE, FLOW_S = "staff_oidc", 600


class ConsoleSignInPages:
    async def home(self, request: Request) -> Response:
        return forms.see_other(ROOT + ("dashboard" if await self._session(request) else "sign-in"))

    async def sign_in_page(self, request: Request) -> Response:
        async def page(language: str) -> Response:
            visitor = request.cookies.get(VISITOR_COOKIE) or new_secret()
            failed = request.query_params.get("failed") == "1"
            if self._oidc is not None:  # the identity provider's: no password is taken here
                if request.method == "POST":
                    raise Refusal("form", 400)
                return self._render(request, language, None, "console/sign_in_oidc.html", failed=failed,
                                    status=401 if failed else 200)
            if request.method == "POST":
                form = await request.form()
                if not self._csrf.valid(request.cookies.get(VISITOR_COOKIE), str(form.get("csrf", ""))):
                    raise Refusal("csrf", 403)
                name, password = str(form.get("name", "")).strip(), str(form.get("password", ""))
                code = str(form.get("code", "")).strip().replace(" ", "")
                if ACCOUNT_NAME.fullmatch(name) and len(password) <= MAX_PASSWORD:
                    try:
                        secret, account = await self._sign_in.sign_in(name, password, code)
                    except errors.StaffSignInFailed:
                        log.info("console sign-in refused")
                    else:
                        log.info("console sign-in", account=account.name, role=account.role.value)
                        response = forms.see_other(ROOT + "requests")
                        response.set_cookie(STAFF_COOKIE, secret, **self._cookie())
                        response.delete_cookie(VISITOR_COOKIE, **self._cookie())
                        return response
                failed = True
            response = self._render(request, language, None, "console/sign_in.html", failed=failed,
                                    csrf=self._csrf.token(visitor), status=401 if failed else 200)
            response.set_cookie(VISITOR_COOKIE, visitor, max_age=600, **self._cookie())
            return response
        return await self._framed(request, page)

    async def oidc_start(self, request: Request) -> Response:
        """To the identity provider, with the flow's state kept in a signed cookie until the browser is back.
        A link, not a form: the CSP's form-action keeps a form's redirect on this site, and starting a
        sign-in changes nothing another site could want to force."""
        async def act(language: str) -> Response:
            if self._oidc is None:
                raise errors.NotFound()
            url, flow = await self._oidc.start()
            response = RedirectResponse(url, status_code=303)
            # Lax: the provider sends the browser back here by a top-level navigation from its own site.
            response.set_cookie(FLOW_COOKIE, self._signed({**asdict(flow), "until": int(time.time()) + FLOW_S}),
                                max_age=FLOW_S, path=ROOT, httponly=True, samesite="lax", secure=self._secure)
            return response
        return await self._framed(request, act)

    async def oidc_return(self, request: Request) -> Response:
        async def act(language: str) -> Response:
            if self._oidc is None:
                raise errors.NotFound()
            flow = self._unsigned(request.cookies.get(FLOW_COOKIE, ""))
            try:
                if flow is None:
                    raise errors.StaffSignInFailed()
                subject = await self._oidc.finish(Flow(**flow), request.query_params.get("state", ""),
                                               request.query_params.get("code", ""))
                secret, account = await self._sign_in.signed_in_elsewhere(subject)
            except errors.StaffSignInFailed:
                log.info("console sign-in refused", method="oidc")
                response = forms.see_other(ROOT + "sign-in?failed=1")
                response.delete_cookie(FLOW_COOKIE, path=ROOT)
                return response
            log.info("console sign-in", account=account.name, role=account.role.value, method="oidc")
            # A page of ours moves on to the queue: the session cookie (SameSite=Strict) is sent on a
            # navigation this site starts, not on the rest of the provider's redirect.
            response = self._render(request, language, None, "console/continue.html")
            response.set_cookie(STAFF_COOKIE, secret, **self._cookie())
            response.delete_cookie(FLOW_COOKIE, path=ROOT)
            return response
        return await self._framed(request, act)

    def _signed(self, value: dict) -> str:
        body = base64.urlsafe_b64encode(json.dumps(value).encode()).decode()
        return body + "." + hmac.new(self._flow_key, body.encode(), hashlib.sha256).hexdigest()

    def _unsigned(self, cookie: str) -> dict | None:
        body, _, mac = cookie.partition(".")
        if not hmac.compare_digest(hmac.new(self._flow_key, body.encode(), hashlib.sha256).hexdigest().encode(),
                                   mac.encode()):
            return None
        try:
            value = json.loads(base64.urlsafe_b64decode(body))
        except ValueError:
            return None
        if not (isinstance(value, dict) and set(value) == {"state", "nonce", "verifier", "until"}
                and isinstance(value["until"], int) and value["until"] > time.time()):
            return None  # not ours, or from a sign-in begun longer ago than a sign-in may take
        return {k: v for k, v in value.items() if k != "until"}

    async def sign_out(self, request: Request) -> Response:
        async def act(language: str, session: StaffSession, secret: str) -> Response:
            await self._sign_in.sign_out(secret)
            response = forms.see_other(ROOT + "sign-in")
            response.delete_cookie(STAFF_COOKIE, **self._cookie())
            return response
        return await self._signed_in(request, act, form=True)

    async def language(self, request: Request) -> Response:
        back = request.query_params.get("back", "")
        response = forms.see_other(back if back.startswith(ROOT) and "//" not in back else ROOT)
        if request.query_params.get("to") in LANGUAGES:
            response.set_cookie(LANGUAGE_COOKIE, request.query_params["to"], max_age=365 * 86400, **self._cookie())
        return response
