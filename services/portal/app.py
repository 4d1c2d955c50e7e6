"""Wiring of the portal: its database (sessions, links, addresses and codes), consent and dsr as its
platform, mail for sign-in codes, the web pages under uvicorn, and PortalService over gRPC."""

import asyncio
from datetime import timedelta

import uvicorn

from consentry.portal.v1 import portal_admin_pb2, portal_admin_pb2_grpc, portal_pb2, portal_pb2_grpc
from services.common.auth import Policy
from services.common.logging import get_logger
from services.common.runtime import ServiceRuntime
from services.common.server import GrpcServer
from services.common.service_secrets import shared_secret
from services.portal.api.errors import status_for
from services.portal.domain.codes import CODE_MINUTES
from services.portal.api.servicer import PortalAdminServicer, PortalServicer
from services.portal.domain.sign_in import SessionLimits
from services.portal.service.codes import CodeSignIn
from services.portal.service.consents import MyConsents
from services.portal.service.forgetting import Forgetting
from services.portal.service.metrics import PublicMetrics
from services.portal.service.requests import MyRequests
from services.portal.service.sign_in import SignIn, utcnow
from services.portal.settings import PortalSettings
from services.portal.store.contacts import ContactStore
from services.portal.store.mail import SmtpMailer
from services.portal.store.platform import Platform
from services.portal.store.sessions import SessionStore
from services.portal.service.console import Console
from services.portal.service.log_check import LogChecks
from services.portal.service.staff_sign_in import StaffSignIn
from services.portal.store.console_platform import ConsolePlatform
from services.portal.store.oidc import OidcProvider
from services.portal.store.staff import StaffStore
from services.portal.web.app import Portal
from services.portal.web.console_pages import ConsolePages
from services.portal.web.guard import CsrfTokens, ExportLinks
from services.portal.web.i18n import Pages
from services.portal.web.limits import RateLimits

SERVICE_NAME = portal_pb2.DESCRIPTOR.services_by_name["PortalService"].full_name
ADMIN_SERVICE_NAME = portal_admin_pb2.DESCRIPTOR.services_by_name["PortalAdminService"].full_name
log = get_logger(__name__)


class PortalApp:
    def __init__(self, settings: PortalSettings) -> None:
        self.settings = settings
        self.runtime = ServiceRuntime("portal", "services.portal.store")
        self._web: uvicorn.Server | None = None
        self._web_task: asyncio.Task | None = None
        self._staff: StaffSignIn | None = None

    @property
    def port(self) -> int:
        return self.runtime.port

    @property
    def http_port(self) -> int:
        assert self._web is not None
        return self._web.servers[0].sockets[0].getsockname()[1]

    async def start(self) -> None:
        s, runtime = self.settings, self.runtime
        runtime.restart_on_new_identity(s.runtime.tls_restart_within_s, s.tls_ca, s.tls_cert, s.tls_key,
                                        s.console.tls_cert, s.console.tls_key)
        if not (s.tls_ca and s.tls_cert and s.tls_key):
            raise ValueError("CONSENTRY_PORTAL_TLS_CA, _CERT and _KEY are required")
        pool = await runtime.start_database(s.database_url, s.pool_min_size, s.pool_max_size, with_outbox=False)
        platform = Platform(s.consent_address, s.dsr_address, s.tls_ca.read_bytes(), s.tls_cert.read_bytes(),
                            s.tls_key.read_bytes())
        runtime.on_stop(platform.close)
        session_limits = SessionLimits(timedelta(seconds=s.session_idle_s), timedelta(seconds=s.session_absolute_s),
                                       timedelta(seconds=s.session_after_deletion_s))
        sessions, contacts = SessionStore(pool, session_limits), ContactStore(pool, session_limits)
        sign_in, pages = SignIn(sessions, platform), Pages()
        # Addresses are registered whether or not mail is set up here; codes are sent only where it is.
        codes = CodeSignIn(contacts, platform, SmtpMailer(s.smtp), await shared_secret(pool, "contacts"),
                           lambda controller, language, code: pages.letter(
                               language, "code_mail.txt", controller=controller, code=code,
                               minutes=CODE_MINUTES))
        runtime.spawn(self._sweep(sessions, contacts), "portal-sweep")

        https = s.public_url.scheme == "https"
        key = await shared_secret(pool, "csrf")
        limits = RateLimits({"sign-in": s.sign_ins_per_minute, "change": s.changes_per_minute,
                             "page": s.pages_per_minute})
        portal = Portal(sign_in, MyConsents(platform), MyRequests(platform), platform.controller, CsrfTokens(key),
                        ExportLinks(key), limits, secure_cookies=True, pages=pages,
                        codes=codes if s.smtp.host else None, metrics=PublicMetrics(platform))
        staff, console_routes = None, []
        if s.console.enabled:
            staff, console = self._console(pool, pages, CsrfTokens(key), limits, key)
            console_routes = console.routes()
        host, _, port = s.http_listen.rpartition(":")
        self._web = uvicorn.Server(uvicorn.Config(portal.app(hsts=https, first=console_routes, allowances=ConsolePages.BODY_ALLOWANCES), host=host, port=int(port), log_config=None,
                                                  access_log=False, lifespan="off", server_header=False,
                                                  proxy_headers=bool(s.forwarded_allow_ips),
                                                  forwarded_allow_ips=s.forwarded_allow_ips or None))
        self._web_task = asyncio.create_task(self._web.serve(), name="portal-web")
        while not self._web.started:
            if self._web_task.done():
                await self._web_task
                raise OSError(f"the portal's web server could not listen on {s.http_listen}")
            await asyncio.sleep(0.02)
        runtime.on_stop(self._stop_web)
        log.info("portal pages served", url=f"http://{host}:{self.http_port}/")

        servicer = PortalServicer(sign_in, codes, str(s.public_url))
        admin = PortalAdminServicer(Forgetting(sessions, contacts, utcnow), staff, platform.controller)
        server = GrpcServer(
            s.grpc, Policy.for_server(s.grpc.policy_file, s.grpc.insecure_client_id), [SERVICE_NAME],
            lambda srv: portal_pb2_grpc.add_PortalServiceServicer_to_server(servicer, srv), status_for)
        server.add_service(ADMIN_SERVICE_NAME,
                           lambda srv: portal_admin_pb2_grpc.add_PortalAdminServiceServicer_to_server(admin, srv))
        await runtime.serve(server)

    def _console(self, pool, pages: Pages, csrf: CsrfTokens, limits: RateLimits, flow_key: bytes
                 ) -> tuple[StaffSignIn, ConsolePages]:
        s, c = self.settings, self.settings.console
        assert s.tls_ca and c.tls_cert and c.tls_key
        platform = ConsolePlatform(s.consent_address, s.dsr_address, c.audit_address, s.tls_ca.read_bytes(), c.tls_cert.read_bytes(),
                                   c.tls_key.read_bytes())
        self.runtime.on_stop(platform.close)
        staff = StaffSignIn(StaffStore(pool), platform.record, timedelta(seconds=c.session_idle_s),
                            timedelta(seconds=c.session_absolute_s))
        self._staff = staff
        console = Console(platform)
        checks = LogChecks(console, platform.public_key)
        oidc = OidcProvider(c.oidc.issuer, c.oidc.client_id, c.oidc.client_secret.get_secret_value(),
                            f"{str(s.public_url).rstrip('/')}/console/sign-in/oidc", c.oidc.scopes
                            ) if c.oidc.issuer else None
        return staff, ConsolePages(staff, console, checks, csrf, limits, pages, secure_cookies=True, oidc=oidc,
                                   flow_key=flow_key)

    async def _sweep(self, sessions: SessionStore, contacts: ContactStore) -> None:
        while True:
            await asyncio.sleep(self.settings.sweep_interval_s)
            try:
                now = utcnow()
                await sessions.forget_ended(now)
                await contacts.forget_ended(now)
                if self._staff is not None:
                    await self._staff.forget_ended()
            except Exception as exc:  # noqa: BLE001 - the next sweep tries again
                log.warning("portal sweep failed", error=type(exc).__name__)

    async def _stop_web(self) -> None:
        assert self._web is not None and self._web_task is not None
        self._web.should_exit = True
        await self._web_task

    async def stop(self) -> None:
        await self.runtime.stop()
