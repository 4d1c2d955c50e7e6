"""The portal, started in-process against the test session's consent service, with its own database,
its own mTLS identity ("portal") and a policy of its own for PortalService."""

import pytest

from consentry.portal.v1 import portal_admin_pb2_grpc, portal_pb2_grpc
from consentry_dev.launchers.process import free_port
from consentry_dev.mail import Inbox
from services.portal.app import PortalApp
from services.portal.settings import ConsoleSettings, PortalSettings, SmtpSettings
from tests.consent.builders import OTHER_CONTROLLER, registered_controller, registered_purpose
from tests.portal.visitor import Visitor
from tests.support import Clients, grpc_settings, write_policy

# The portal files requests with dsr, which runs with keyvault: on its wrapped backend, as dsr's own tests.
BACKEND = pytest.mark.parametrize("backend", ["wrapped"], indirect=True, scope="session")
SERVICE = "consentry.portal.v1.PortalService"
ADMIN_SERVICE = "consentry.portal.v1.PortalAdminService"
# The portal's tests' own controller, so its pages hold only the purposes registered here.
HARBOUR = "harbour-campus"
PORTAL_CLIENTS = {
    "admin": {"operator": True, "rpcs": ["*", f"{ADMIN_SERVICE}/*"], "purposes": ["*"]},
    # dsr, which has a deleted person forgotten.
    "dsr": {"operator": True, "rpcs": [f"{ADMIN_SERVICE}/ForgetSubject"], "purposes": []},
    # The face systems' backends, each for its own controller's people.
    "gate-app": {"controller": "acme-campus", "rpcs": [f"{SERVICE}/*"], "purposes": ["*"]},
    "harbour-app": {"controller": HARBOUR, "rpcs": [f"{SERVICE}/*"], "purposes": ["*"]},
    "bank-app": {"controller": OTHER_CONTROLLER, "rpcs": [f"{SERVICE}/*"], "purposes": ["*"]},
    # A door that may only check consent: no sign-in links.
    "door-app": {"controller": "acme-campus", "rpcs": [], "purposes": ["*"]},
}


def portal_settings(run_dir, postgres, dev_ca, consent_app, dsr_app, inbox: Inbox | None = None,
                    **overrides) -> PortalSettings:
    """With `inbox`, sign-in codes are mailed to it."""
    client, console = dev_ca.issue_client("portal"), dev_ca.issue_client("console")
    http = free_port()
    return PortalSettings(**{
        "database_url": postgres.dsn("portal"),
        "grpc": grpc_settings(dev_ca, write_policy(run_dir / "portal-policy.toml", PORTAL_CLIENTS)),
        "http_listen": f"127.0.0.1:{http}", "public_url": f"http://localhost:{http}",
        "consent_address": f"localhost:{consent_app.port}", "dsr_address": f"localhost:{dsr_app.port}",
        "tls_ca": dev_ca.ca.cert, "tls_cert": client.cert, "tls_key": client.key, "sweep_interval_s": 1.0,
        # Every test signs people in from the one loopback address: the limits are tested on their own.
        "sign_ins_per_minute": 10_000, "changes_per_minute": 10_000, "pages_per_minute": 100_000,
        "smtp": SmtpSettings(host="127.0.0.1", port=inbox.port, security="none") if inbox else SmtpSettings(),
        "console": ConsoleSettings(tls_cert=console.cert, tls_key=console.key,
                                   audit_address=dsr_app.settings.audit_address),
        **overrides})


@pytest.fixture(scope="session")
def inbox():
    """The SMTP server the portal mails its sign-in codes to."""
    with Inbox() as received:
        yield received


@pytest.fixture(scope="session")
async def portal_app(run_dir, postgres, dev_ca, consent_app, dsr_app, inbox):
    postgres.create_database("portal")
    app = PortalApp(portal_settings(run_dir, postgres, dev_ca, consent_app, dsr_app, inbox))
    await app.start()
    yield app
    await app.stop()


@pytest.fixture(scope="session")
async def connect_portal(portal_app, dev_ca):
    clients = Clients(dev_ca, portal_app.port, portal_pb2_grpc.PortalServiceStub)
    yield clients
    await clients.close()


@pytest.fixture(scope="session")
async def connect_portal_admin(portal_app, dev_ca):
    clients = Clients(dev_ca, portal_app.port, portal_admin_pb2_grpc.PortalAdminServiceStub)
    yield clients
    await clients.close()


@pytest.fixture(scope="session")
def links(connect_portal):
    """gate-app, asking sign-in links for acme-campus's people."""
    return connect_portal("gate-app")


@pytest.fixture(scope="session")
async def harbour(consent_admin, admin) -> dict[str, str]:
    """HARBOUR, registered with two purposes: a gate (templates on the server) and a phone unlock (on the
    device); their ids by kind."""
    await registered_controller(consent_admin, HARBOUR, legal_name="Harbour Campus Property Management Ltd.",
                                address="1 Harbour Road, Qingdao", contact="privacy@harbour.example")
    gate = await registered_purpose(admin, controller_id=HARBOUR, name="Gate access by face")
    phone = await registered_purpose(admin, controller_id=HARBOUR, name="Unlock the visitor app by face",
                                     storage_location=1)
    return {"gate": gate.purpose_id, "phone": phone.purpose_id}


@pytest.fixture(scope="session")
def harbour_links(connect_portal, harbour):
    """harbour-app, asking sign-in links for HARBOUR's people."""
    return connect_portal("harbour-app")


@pytest.fixture
async def visitor(portal_app):
    """A browser, as far as HTTP goes, on the portal (English); closed after the test."""
    v = Visitor(f"http://localhost:{portal_app.http_port}")
    yield v
    await v.close()
