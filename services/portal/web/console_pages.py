"""The console's pages, under /console/: staff sign in (password and authenticator code), work through
the request queue, review and decide a request, search the audit log and check an entry's proof in
their own browser. Same standards as the portal's pages: server-rendered, every action a plain form
(no script needed but for the in-browser proof check), CSRF tokens bound to the session cookie, which
is HttpOnly, SameSite=Strict and for /console/ only."""

import base64
import hashlib
import json
import uuid
from datetime import UTC, datetime
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response, StreamingResponse
from starlette.routing import Route

from services.common.logging import get_logger
from services.portal.domain import errors
from services.portal.domain.audit_log import EntryQuery
from services.portal.domain.cases import QueueFilter
from services.portal.domain.purposes import CATEGORIES, LEGAL_BASES, NOTICE_LANGUAGES, STORAGE
from services.portal.domain.requests import Kind, Rejection, Stage
from services.portal.domain.staff import StaffSession
from services.portal.service.console import Console
from services.portal.service.log_check import LogChecks
from services.portal.service.ports import IdentityProvider
from services.portal.service.staff_sign_in import StaffSignIn
from services.portal.web import forms
from services.portal.web.console_forms import (
    COMPLAINT_ROUTES, DATE, DAYS, EVENT_TYPE, JURISDICTION, MAX_NOTE, MAX_NOTICE, NUMBER, PROCESSOR, REJECTION_CODE,
    SUBJECT_REF, TOKEN, Refusal, controller_query, day, enum_of, purpose_terms, query,
)
from services.portal.web.console_sign_in import LANGUAGE_COOKIE, ROOT, STAFF_COOKIE, ConsoleSignInPages
from services.portal.web.guard import CsrfTokens
from services.portal.web.i18n import Pages, choose
from services.portal.web.limits import RateLimits

log = get_logger(__name__)


class ConsolePages(ConsoleSignInPages):
    BODY_ALLOWANCES = {"/console/purposes/": 512 * 1024}  # a notice's two texts (guard.BodyLimit)

    def __init__(self, sign_in: StaffSignIn, console: Console, checks: LogChecks, csrf: CsrfTokens,
                 limits: RateLimits, pages: Pages, secure_cookies: bool, oidc: IdentityProvider | None = None,
                 flow_key: bytes = b"") -> None:
        """`oidc`: staff sign in at the organisation's identity provider (then never with a password);
        `flow_key`: signs the sign-in's state, which the browser keeps while it is away."""
        self._sign_in, self._console, self._checks, self._csrf = sign_in, console, checks, csrf
        self._limits, self._pages, self._secure, self._oidc = limits, pages, secure_cookies, oidc
        self._flow_key = hashlib.sha256(b"oidc-flow|" + flow_key).digest()

    def routes(self) -> list[Route]:
        return [
            Route("/console/", self.home),
            Route("/console/sign-in", self.sign_in_page, methods=["GET", "POST"]),
            Route("/console/sign-in/oidc/start", self.oidc_start),
            Route("/console/sign-in/oidc", self.oidc_return),
            Route("/console/sign-out", self.sign_out, methods=["POST"]),
            Route("/console/language", self.language),
            Route("/console/dashboard", self.dashboard),
            Route("/console/requests", self.queue),
            Route("/console/requests/acknowledge", self.acknowledge, methods=["POST"]),
            Route("/console/requests/{request_id}", self.case),
            Route("/console/requests/{request_id}/export.json", self.export),
            Route("/console/requests/{request_id}/{action:str}", self.decide, methods=["POST"]),
            Route("/console/purposes", self.purposes),
            Route("/console/purposes/new", self.new_purpose, methods=["GET", "POST"]),
            Route("/console/purposes/{purpose}", self.purpose),
            Route("/console/purposes/{purpose}/notices", self.publish, methods=["POST"]),
            Route("/console/records", self.records),
            Route("/console/records/{record}.csv", self.record_csv),
            Route("/console/audit", self.audit),
            Route("/console/audit/entries/{leaf}", self.entry),
            Route("/console/audit/export.jsonl", self.audit_export),
            Route("/console/audit/checks", self.start_check, methods=["POST"]),
            Route("/console/audit/checks/{check_id}", self.check),
        ]

    # The dashboard

    async def dashboard(self, request: Request) -> Response:
        async def page(language: str, session: StaffSession, secret: str) -> Response:
            chosen = self._chosen_controller(request, session)
            board = await self._console.dashboard(session.account, chosen)
            request_groups = [{"key": w.week.isoformat(), "week": w.week,
                               "values": {kind.value: n for kind, n in w.by_kind.items()}} for w in board.requests]
            consent_groups = [[{"key": week.isoformat(), "week": week,
                                "values": {"given": c.given[week], "withdrawn": c.withdrawn[week]}}
                               for week in board.weeks] for c in board.consents]
            return self._render(request, language, session, "console/dashboard.html", board=board, kinds=list(Kind),
                                request_groups=request_groups, consent_groups=consent_groups,
                                csrf=self._csrf.token(secret))
        return await self._signed_in(request, page)

    # Requests

    async def queue(self, request: Request) -> Response:
        async def page(language: str, session: StaffSession, secret: str) -> Response:
            account = session.account
            where = QueueFilter(
                kind=enum_of(Kind, request.query_params.get("type", "")),
                stage=enum_of(Stage, request.query_params.get("status", "")),
                jurisdiction=query(request, "jurisdiction", JURISDICTION),
                processor=query(request, "processor", PROCESSOR),
                controller_id=self._chosen_controller(request, session),
                overdue_only=request.query_params.get("overdue") == "1",
                due_within_days=int(query(request, "due_within", DAYS) or 0),
                with_unverified=request.query_params.get("unverified") == "1")
            cases, token = await self._console.queue(account, where, query(request, "page", TOKEN))
            shown = {k: v for k, v in request.query_params.items() if k != "page"}
            return self._render(request, language, session, "console/queue.html", cases=cases, where=where,
                                now=datetime.now(UTC), kinds=list(Kind), stages=list(Stage), csrf=self._csrf.token(secret),
                                form_key=str(uuid.uuid4()),
                                next_page="?" + urlencode({**shown, "page": token}) if token else "",
                                done=request.query_params.get("done", ""))
        return await self._signed_in(request, page)

    async def acknowledge(self, request: Request) -> Response:
        async def act(language: str, session: StaffSession, secret: str) -> Response:
            form = await request.form()
            chosen = [str(v) for v in form.getlist("request")]
            key = str(form.get("form_key", ""))
            if not chosen or len(chosen) > 100 or not forms.FORM_KEY.fullmatch(key) \
                    or not all(forms.REQUEST_ID.fullmatch(r) for r in chosen):
                raise Refusal("form", 400)
            done = await self._console.acknowledge(session.account, chosen, key)
            return forms.see_other(f"{ROOT}requests?done=acknowledged-{done}")
        return await self._signed_in(request, act, form=True, changes=True)

    async def case(self, request: Request) -> Response:
        async def page(language: str, session: StaffSession, secret: str) -> Response:
            case = await self._console.case(session.account, forms.request_id(request))
            return self._render(request, language, session, "console/case.html", case=case, now=datetime.now(UTC),
                                csrf=self._csrf.token(secret), form_key=str(uuid.uuid4()),
                                complaint_route=COMPLAINT_ROUTES.get(case.jurisdiction, ""),
                                done=request.query_params.get("done", ""))
        return await self._signed_in(request, page)

    async def decide(self, request: Request) -> Response:
        """verify, refuse, extend, reject or release the export, each a form of the request's page."""
        async def act(language: str, session: StaffSession, secret: str) -> Response:
            request_id, action = forms.request_id(request), request.path_params["action"]
            form = await request.form()
            key = str(form.get("form_key", ""))
            text = {name: str(form.get(name, "")).strip() for name in ("note", "reason", "explanation", "route")}
            if not forms.FORM_KEY.fullmatch(key) or any(len(v) > MAX_NOTE for v in text.values()):
                raise Refusal("form", 400)
            account = session.account
            if action in ("verify", "refuse"):
                if action == "refuse" and not text["note"]:
                    raise Refusal("form", 400)
                await self._console.verify(account, request_id, action == "verify", text["note"], key)
            elif action == "release":
                await self._console.release_export(account, request_id, text["note"], key)
            elif action == "extend" and text["reason"]:
                await self._console.extend(account, request_id, text["reason"], key)
            elif action == "reject" and text["explanation"] and text["route"]:
                code = str(form.get("code", ""))
                if not REJECTION_CODE.fullmatch(code):
                    raise Refusal("form", 400)
                await self._console.reject(account, request_id, Rejection(code, text["explanation"], text["route"]),
                                           key)
            else:
                raise Refusal("form", 400)
            return forms.see_other(f"{ROOT}requests/{request_id}?done={action}")
        return await self._signed_in(request, act, form=True, changes=True)

    async def export(self, request: Request) -> Response:
        async def download(language: str, session: StaffSession, secret: str) -> Response:
            request_id = forms.request_id(request)
            body = await self._console.export(session.account, request_id)
            return forms.attachment(body.decode(), f"export-{request_id}.json")
        return await self._signed_in(request, download)

    # Purposes and notices

    async def purposes(self, request: Request) -> Response:
        async def page(language: str, session: StaffSession, secret: str) -> Response:
            chosen = self._chosen_controller(request, session)
            found = await self._console.purposes(session.account, chosen) if session.account.scope(chosen) else None
            return self._render(request, language, session, "console/purposes.html", purposes=found, chosen=chosen,
                                csrf=self._csrf.token(secret))
        return await self._signed_in(request, page)

    async def new_purpose(self, request: Request) -> Response:
        async def page(language: str, session: StaffSession, secret: str) -> Response:
            chosen = self._chosen_controller(request, session)
            draft, problem = {}, ""
            if request.method == "POST":
                form = await request.form()
                draft = {k: str(v) for k, v in form.multi_items() if k != "categories"}
                draft["categories"] = [str(c) for c in form.getlist("categories")]
                terms, problem = purpose_terms(form, chosen)
                if terms is not None:
                    try:
                        await self._console.register(session.account, terms, str(form.get("form_key", "")))
                    except errors.Refused as refused:
                        if refused.reason != "REQUEST_INVALID":
                            raise
                        problem = str(refused)
                    else:
                        return forms.see_other(f"{ROOT}purposes/{terms.purpose_id}?{controller_query(chosen)}"
                                               "done=registered")
            return self._render(request, language, session, "console/purpose_new.html", chosen=chosen, draft=draft,
                                problem=problem, categories=CATEGORIES, storages=STORAGE, bases=LEGAL_BASES,
                                form_key=str(uuid.uuid4()), csrf=self._csrf.token(secret), status=400 if problem else 200)
        return await self._signed_in(request, page, form=request.method == "POST", changes=request.method == "POST")

    async def purpose(self, request: Request) -> Response:
        async def page(language: str, session: StaffSession, secret: str) -> Response:
            chosen = self._chosen_controller(request, session)
            found = await self._console.purpose(session.account, chosen, forms.purpose_id(request))
            return self._render(request, language, session, "console/purpose.html", purpose=found, chosen=chosen,
                                languages=NOTICE_LANGUAGES, form_key=str(uuid.uuid4()), csrf=self._csrf.token(secret),
                                done=request.query_params.get("done", ""),
                                renewals=request.query_params.get("renewals", ""))
        return await self._signed_in(request, page)

    async def publish(self, request: Request) -> Response:
        async def act(language: str, session: StaffSession, secret: str) -> Response:
            chosen, purpose_id = self._chosen_controller(request, session), forms.purpose_id(request)
            form = await request.form()
            texts = {lang: str(form.get(f"text-{lang}", "")).strip() for lang in NOTICE_LANGUAGES}
            key = str(form.get("form_key", ""))
            if not forms.FORM_KEY.fullmatch(key) or not all(0 < len(t) <= MAX_NOTICE for t in texts.values()):
                raise Refusal("form", 400)
            renewals = await self._console.publish(session.account, chosen, purpose_id, texts,
                                                   form.get("material_change") == "yes", key)
            return forms.see_other(f"{ROOT}purposes/{purpose_id}?{controller_query(chosen)}done=published"
                                   f"&renewals={renewals}")
        return await self._signed_in(request, act, form=True, changes=True)

    def _chosen_controller(self, request: Request, session: StaffSession) -> str:
        """The controller the platform's staff chose (?controller=); a controller's staff have theirs."""
        return query(request, "controller", forms.FIELD) if session.account.controller_id is None else ""

    # Records for the regulator

    async def records(self, request: Request) -> Response:
        async def page(language: str, session: StaffSession, secret: str) -> Response:
            return self._render(request, language, session, "console/records.html",
                                chosen=self._chosen_controller(request, session), csrf=self._csrf.token(secret))
        return await self._signed_in(request, page)

    async def record_csv(self, request: Request) -> Response:
        async def download(language: str, session: StaffSession, secret: str) -> Response:
            chosen, record = self._chosen_controller(request, session), request.path_params["record"]
            make = {"requests": self._console.requests_record, "processing": self._console.processing_record}.get(record)
            if make is None:
                raise errors.NotFound()
            name = f"{record}-{session.account.scope(chosen) or 'platform'}.csv"
            return forms.attachment(await make(session.account, chosen), name, "text/csv; charset=utf-8")
        return await self._signed_in(request, download)

    # The audit log

    async def audit(self, request: Request) -> Response:
        async def page(language: str, session: StaffSession, secret: str) -> Response:
            account = session.account
            q = {name: query(request, name, pattern) for name, pattern in (
                ("type", EVENT_TYPE), ("producer", PROCESSOR), ("subject", forms.FIELD), ("subject_ref", SUBJECT_REF),
                ("controller", forms.FIELD), ("from", DATE), ("until", DATE), ("page", TOKEN))}
            where = EntryQuery(q["type"], q["producer"], q["subject"], q["subject_ref"], day(q["from"]),
                               day(q["until"], end_of_day=True),
                               q["controller"] if account.controller_id is None else "")
            if (where.occurred_from and where.occurred_until and where.occurred_from >= where.occurred_until) \
                    or (where.subject_id and where.subject_ref):
                raise Refusal("form", 400)
            found, token = await self._console.events(account, where, q["page"])
            shown = {k: v for k, v in request.query_params.items() if k != "page"}
            return self._render(request, language, session, "console/audit.html", entries=found, q=q,
                                csrf=self._csrf.token(secret),
                                next_page="?" + urlencode({**shown, "page": token}) if token else "")
        return await self._signed_in(request, page)

    async def entry(self, request: Request) -> Response:
        async def page(language: str, session: StaffSession, secret: str) -> Response:
            leaf = request.path_params["leaf"]
            if not NUMBER.fullmatch(leaf):
                raise errors.NotFound()
            proven = await self._console.entry(session.account, int(leaf))
            b64 = lambda data: base64.b64encode(data).decode()  # noqa: E731
            return self._render(request, language, session, "console/entry.html", proven=proven,
                                entry=json.loads(proven.entry_json), entry_b64=b64(proven.entry_json),
                                proof_b64=" ".join(b64(h) for h in proven.proof),
                                note_b64=b64(proven.checkpoint_note), signature_b64=b64(proven.checkpoint_signature),
                                csrf=self._csrf.token(secret))
        return await self._signed_in(request, page)

    async def audit_export(self, request: Request) -> Response:
        async def download(language: str, session: StaffSession, secret: str) -> Response:
            controller = self._chosen_controller(request, session)
            chunks = await self._console.export_events(session.account, controller)
            name = f"audit-{session.account.scope(controller) or 'platform'}.jsonl"
            return StreamingResponse(chunks, media_type="application/jsonl",
                                     headers={"content-disposition": f'attachment; filename="{name}"'})
        return await self._signed_in(request, download)

    async def start_check(self, request: Request) -> Response:
        async def act(language: str, session: StaffSession, secret: str) -> Response:
            form = await request.form()
            controller = str(form.get("controller", "")) if session.account.controller_id is None else ""
            if controller and not forms.FIELD.fullmatch(controller):
                raise Refusal("form", 400)
            check = await self._checks.start(session.account, controller)
            return forms.see_other(f"{ROOT}audit/checks/{check.check_id}")
        return await self._signed_in(request, act, form=True)

    async def check(self, request: Request) -> Response:
        async def page(language: str, session: StaffSession, secret: str) -> Response:
            check_id = request.path_params["check_id"]
            if not forms.REQUEST_ID.fullmatch(check_id):
                raise errors.NotFound()
            check = self._checks.get(session.account, check_id)
            return self._render(request, language, session, "console/check.html", check=check,
                                csrf=self._csrf.token(secret))
        return await self._signed_in(request, page)

    # The frame every console page runs in

    def _cookie(self) -> dict:
        return dict(path=ROOT, httponly=True, samesite="strict", secure=self._secure)

    async def _session(self, request: Request) -> tuple[StaffSession, str] | None:
        secret = request.cookies.get(STAFF_COOKIE)
        session = await self._sign_in.session(secret) if secret else None
        return (session, secret) if session and secret else None

    async def _framed(self, request: Request, page) -> Response:
        language = choose(request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language", ""))
        kind = "page" if request.method != "POST" else "sign-in" if request.url.path.endswith("/sign-in") else "change"
        if not self._limits.allow(request.client.host if request.client else "", kind):
            response = self._refusal(request, language, None, "too_many", 429)
            response.headers["retry-after"] = "60"
            return response
        try:
            return await page(language)
        except Refusal as refusal:
            return self._refusal(request, language, await self._session_or_none(request), refusal.kind,
                                 refusal.status)
        except errors.PlatformUnavailable:
            # A change the platform did not answer may have been made all the same: say so, not "nothing".
            kind = "unsure" if request.method == "POST" else "unavailable"
            return self._refusal(request, language, await self._session_or_none(request), kind, 503)
        except errors.NotFound:
            return self._refusal(request, language, await self._session_or_none(request), "not_found", 404)
        except errors.NotPermitted:
            return self._refusal(request, language, await self._session_or_none(request), "not_permitted", 403)
        except errors.ControllerRequired:
            return self._refusal(request, language, await self._session_or_none(request), "controller_required", 400)
        except errors.Refused as refused:
            log.info("console change refused", reason=refused.reason)
            return self._refusal(request, language, await self._session_or_none(request), "refused", 409,
                                 reason=refused.reason, message=str(refused))

    async def _session_or_none(self, request: Request) -> StaffSession | None:
        found = await self._session(request)
        return found[0] if found else None

    async def _signed_in(self, request: Request, page, form: bool = False, changes: bool = False) -> Response:
        """The page for a live staff session; signed out, the sign-in page. A form must carry the
        session's CSRF token, or it changes nothing; one that `changes` something is refused to a role
        that may not (an auditor's, whatever it holds)."""
        async def within(language: str) -> Response:
            found = await self._session(request)
            if found is None:
                return forms.see_other(ROOT + "sign-in")
            session, secret = found
            if changes and not session.account.may_change:
                raise errors.NotPermitted()
            if form and not self._csrf.valid(secret, str((await request.form()).get("csrf", ""))):
                raise Refusal("csrf", 403)
            return await page(language, session, secret)
        return await self._framed(request, within)

    def _render(self, request: Request, language: str, session: StaffSession | None, template: str,
                status: int = 200, **context) -> HTMLResponse:
        back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        html = self._pages.render(language, template, session=session, account=session.account if session else None,
                                  back=back, path=request.url.path, csrf=context.pop("csrf", ""), **context)
        return HTMLResponse(html, status_code=status)

    def _refusal(self, request: Request, language: str, session: StaffSession | None, kind: str, status: int,
                 reason: str = "", message: str = "") -> HTMLResponse:
        csrf = self._csrf.token(request.cookies.get(STAFF_COOKIE, "")) if session else ""
        return self._render(request, language, session, "console/refusal.html", status=status, kind=kind,
                            reason=reason, message=message, csrf=csrf)
