"""The consent service running for real (TLS, policy, PostgreSQL, Tansu) plus clients with
different identities."""

from pathlib import Path

import pytest

from consentry.consent.v1 import consent_admin_pb2_grpc, consent_pb2_grpc
from services.common.pki import DevCA
from services.consent.app import ConsentApp
from services.consent.settings import ConsentSettings
from tests.consent.builders import OTHER_CONTROLLER, register_default_controller
from tests.support import (
    OPEN_EVENTS, Clients, EventOpener, erasure_key, grpc_settings, kafka_settings, signing_key, write_policy,
)

SERVICE = "consentry.consent.v1.ConsentService"
ADMIN_SERVICE = "consentry.consent.v1.ConsentAdminService"  # "*" never reaches it: only its own name
GATE_RPCS = [f"{SERVICE}/{rpc}" for rpc in (
    "GetPurpose", "ListPurposes", "GrantConsent", "CheckConsent", "CheckConsents", "WithdrawConsent", "ListConsents",
    "GetConsentHistory", "GetConsentAsOf", "RecordInteraction", "GetReceiptKey", "RenderReceipt", "IssueReceipt",
    "GetController", "WatchConsents")]
CLIENTS = {
    "admin": {"operator": True, "rpcs": ["*", f"{ADMIN_SERVICE}/*"], "purposes": ["*"]},
    # Granted loosely, as a careless policy might: every RPC, or every RPC of ConsentService.
    "everything-app": {"controller": "acme-campus", "rpcs": ["*"], "purposes": ["*"]},
    "whole-service-app": {"controller": "acme-campus", "rpcs": [f"{SERVICE}/*"], "purposes": ["*"]},
    "gate-app": {"controller": "acme-campus", "rpcs": GATE_RPCS, "purposes": ["*"]},
    # A door system that may only check, and only its own purpose.
    "door-app": {"controller": "acme-campus", "rpcs": [f"{SERVICE}/CheckConsent"], "purposes": ["door-entry"]},
    # An app backend showing people their receipts, for its own purpose only.
    "door-receipts": {"controller": "acme-campus", "rpcs": [f"{SERVICE}/RenderReceipt"], "purposes": ["door-entry"]},
    # A lobby screen showing people their consents, for its own purpose only.
    "lobby-screen": {"controller": "acme-campus", "rpcs": [f"{SERVICE}/{rpc}" for rpc in ("ListPurposes", "ListConsents")],
                     "purposes": ["lobby-entry"]},
    # The keyvault asks before every key release.
    "keyvault": {"operator": True, "rpcs": [f"{SERVICE}/CheckConsent", f"{SERVICE}/CheckConsents",
                                            f"{SERVICE}/GetController"], "purposes": ["*"]},
    # A face system using the client library: the same identity on consent and keyvault.
    "face-app": {"controller": "acme-campus", "rpcs": GATE_RPCS, "purposes": ["*"]},
    # dsr erases a subject's consents and reads them for access requests.
    "dsr": {"operator": True, "rpcs": [f"{ADMIN_SERVICE}/EraseSubject", OPEN_EVENTS]
                    + [f"{SERVICE}/{rpc}" for rpc in ("ListConsents", "GetConsentHistory", "GetPurpose")],
            "purposes": ["*"]},
    "audit": {"operator": True, "rpcs": [OPEN_EVENTS], "purposes": []},
    # The portal serves several controllers' people: it reads purposes and a person's consents and
    # grants and withdraws them and shows their receipts, naming the controller each time; nothing else.
    "portal": {"operator": True, "rpcs": [f"{SERVICE}/{rpc}" for rpc in (
        "GetController", "ListPurposes", "GetPurpose", "ListConsents", "GrantConsent", "WithdrawConsent",
        "IssueReceipt", "GetReceiptKey", "RenderReceipt")],
        "purposes": ["*"]},
    # The staff's console: purposes and notices, and each controller's standing against the filing threshold.
    "console": {"operator": True, "records_staff_actions": True, "rpcs": [f"{SERVICE}/{rpc}" for rpc in (
        "GetController", "ListPurposes", "GetPurpose", "RegisterPurpose", "PublishNotice", "GetFilingStatus")],
        "purposes": ["*"]},
    # A controller's own back office, granted the admin service by a careless policy: still no operator.
    "campus-office": {"controller": "acme-campus", "rpcs": [f"{ADMIN_SERVICE}/*", f"{SERVICE}/*"], "purposes": ["*"]},
    # A second controller's app, granted as loosely: every purpose, the whole service.
    "bank-app": {"controller": OTHER_CONTROLLER, "rpcs": [f"{SERVICE}/*"], "purposes": ["*"]},
}


def consent_settings(run_dir: Path, ca: DevCA, database_url: str, broker, vault) -> ConsentSettings:
    policy = write_policy(run_dir / "policy.toml", CLIENTS)
    return ConsentSettings(database_url=database_url, kafka=kafka_settings(broker, ca, "consent"),
                           grpc=grpc_settings(ca, policy), expiry_interval_s=3600, pool_min_size=2,
                           erasure_key=erasure_key(vault, "consent"),
                           receipt_signing_key=signing_key(run_dir / "keys" / "receipts.pem"))


@pytest.fixture(scope="session")
async def consent_app(run_dir, postgres, kafka, dev_ca, vault):
    postgres.create_database("consent")
    app = ConsentApp(consent_settings(run_dir, dev_ca, postgres.dsn("consent"), kafka, vault))
    await app.start()
    await register_default_controller(dev_ca, app.port)
    await register_default_controller(dev_ca, app.port, controller=OTHER_CONTROLLER)
    yield app
    await app.stop()


@pytest.fixture(scope="session")
async def connect(consent_app, dev_ca):
    clients = Clients(dev_ca, consent_app.port, consent_pb2_grpc.ConsentServiceStub)
    yield clients
    await clients.close()


@pytest.fixture(scope="session")
def admin(connect):
    return connect("admin")


@pytest.fixture(scope="session")
async def connect_admin(consent_app, dev_ca):
    """Stubs of ConsentAdminService, which the same server serves."""
    clients = Clients(dev_ca, consent_app.port, consent_admin_pb2_grpc.ConsentAdminServiceStub)
    yield clients
    await clients.close()


@pytest.fixture(scope="session")
def consent_admin(connect_admin):
    return connect_admin("admin")


@pytest.fixture(scope="session")
def gate(connect):
    return connect("gate-app")


@pytest.fixture(scope="session")
def bank(connect):
    """A client of OTHER_CONTROLLER, as gate-app is of CONTROLLER."""
    return connect("bank-app")


@pytest.fixture(scope="session")
async def consent_events(consent_app, dev_ca):
    """Opens consent's sealed events as read from the broker."""
    opener = EventOpener(dev_ca, consent_app.port)
    yield opener
    await opener.close()
