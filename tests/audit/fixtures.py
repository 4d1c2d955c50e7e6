"""The audit service for real: its own database with separate owner and service roles, an Ed25519
checkpoint key in OpenBao transit, keyvault for subject references, and the session's Tansu."""

import secrets
from pathlib import Path

import pytest

from consentry.audit.v1 import audit_pb2_grpc
from services.audit.app import AuditApp
from services.audit.provision import provision_database, provision_vault
from services.audit.settings import AuditSettings
from services.common.pki import DevCA
from tests.support import Clients, grpc_settings, kafka_settings, write_policy

SERVICE = "consentry.audit.v1.AuditService"
DPO_RPCS = [f"{SERVICE}/{rpc}" for rpc in (
    "GetCheckpoint", "GetPublicKey", "GetInclusionProof", "GetConsistencyProof", "QueryEvents", "ExportEvents",
    "VerifyLog", "GetCompleteness")]
AUDIT_CLIENTS = {
    "dpo": {"operator": True, "rpcs": DPO_RPCS, "purposes": []},
    # Each controller's own DPO, and a second controller's face system (controllers apart).
    "acme-dpo": {"controller": "acme-campus", "rpcs": DPO_RPCS, "purposes": []},
    "river-dpo": {"controller": "river-bank", "rpcs": DPO_RPCS, "purposes": []},
    "bank-app": {"controller": "river-bank", "rpcs": [f"{SERVICE}/Append"], "purposes": []},
    # An operator's face-system tooling: it must name the controller its events are of.
    "platform-app": {"operator": True, "rpcs": [f"{SERVICE}/Append"], "purposes": []},
    "face-app": {"controller": "acme-campus", "rpcs": [f"{SERVICE}/Append"], "purposes": []},
    "door-system": {"controller": "acme-campus", "rpcs": [f"{SERVICE}/Append"], "purposes": []},
    "dsr": {"operator": True, "rpcs": [f"{SERVICE}/QueryEvents"], "purposes": []},
    # The staff's console: it reads the log and appends what staff did ("console." events only).
    "console": {"operator": True, "records_staff_actions": True, "rpcs": [*DPO_RPCS, f"{SERVICE}/Append"],
                "purposes": []},
}
# Whose subjects were subjects before controllers: the test clients' controller, so what producers not
# yet naming a controller publish about a subject is acme-campus's.
DEFAULT_CONTROLLER = "acme-campus"
OWNER, SERVICE_ROLE = "consentry_audit_owner", "consentry_audit"
PASSWORDS = {OWNER: secrets.token_urlsafe(16), SERVICE_ROLE: secrets.token_urlsafe(16)}


async def provisioned(postgres, database: str) -> str:
    """The audit database with its owner and service roles, each logging in with its password."""
    await provision_database(postgres.dsn(), database, OWNER, SERVICE_ROLE, PASSWORDS)
    return database


def role_dsn(postgres, database: str, role: str) -> str:
    return postgres.dsn(database, role, PASSWORDS[role])


def audit_settings(run_dir: Path, ca: DevCA, postgres, database: str, broker, keyvault_port: int,
                   vault_address: str, vault_token: str, topics: tuple[str, ...] = ("consent.events", "keyvault.events"),
                   *, producers: dict[str, int]) -> AuditSettings:
    """`producers`: the ports of the producers whose sealed events it opens, by name (keyvault's is given)."""
    client = ca.issue_client("audit")
    return AuditSettings(
        database_url=role_dsn(postgres, database, SERVICE_ROLE), owner_database_url=role_dsn(postgres, database, OWNER),
        kafka=kafka_settings(broker, ca, "audit"), topics=list(topics),
        grpc=grpc_settings(ca, write_policy(run_dir / "audit-policy.toml", AUDIT_CLIENTS)),
        keyvault_address=f"localhost:{keyvault_port}",
        **{f"{name}_address": f"localhost:{port}" for name, port in producers.items()}, tls_ca=ca.ca.cert, tls_cert=client.cert,
        tls_key=client.key, vault_address=vault_address, vault_token=vault_token, gap_grace_s=1.0,
        default_controller=DEFAULT_CONTROLLER)


@pytest.fixture(scope="session")
def audit_vault_token(vault) -> str:
    return provision_vault(vault.client())


@pytest.fixture(scope="session")
async def audit_database(postgres) -> str:
    return await provisioned(postgres, "audit")


@pytest.fixture(scope="session")
async def audit_app(run_dir, postgres, kafka, vault, audit_vault_token, dev_ca, consent_app, keyvault_app,
                    audit_database):
    app = AuditApp(audit_settings(run_dir, dev_ca, postgres, audit_database, kafka, keyvault_app.port, vault.address,
                                  audit_vault_token, producers={"consent": consent_app.port}))
    await app.start()
    yield app
    await app.stop()


@pytest.fixture(scope="session")
async def audit(audit_app, dev_ca):
    clients = Clients(dev_ca, audit_app.port, audit_pb2_grpc.AuditServiceStub)
    yield clients
    await clients.close()


@pytest.fixture(scope="session")
def dpo(audit):
    return audit("dpo")


@pytest.fixture(scope="session")
def face_events(audit):
    return audit("face-app")


@pytest.fixture(scope="session")
def acme_dpo(audit):
    """The DPO of acme-campus, a controller's client: its own controller's entries only."""
    return audit("acme-dpo")


@pytest.fixture(scope="session")
def river_dpo(audit):
    return audit("river-dpo")


@pytest.fixture(scope="session")
def bank_events(audit):
    """river-bank's face system."""
    return audit("bank-app")


@pytest.fixture(scope="session")
async def dsr_audit_app(run_dir, postgres, kafka, vault, audit_vault_token, dev_ca, keyvault_app, dsr_app):
    """An audit of dsr.events, as in production (the session's audit starts before dsr, so it reads
    consent's and keyvault's events only)."""
    database = await provisioned(postgres, "audit_of_dsr")
    app = AuditApp(audit_settings(run_dir, dev_ca, postgres, database, kafka, keyvault_app.port, vault.address,
                                  audit_vault_token, topics=("dsr.events",), producers={"dsr": dsr_app.port}))
    await app.start()
    yield app
    await app.stop()


@pytest.fixture(scope="session")
async def dsr_dpo(dsr_audit_app, dev_ca):
    """The DPO's view of the audit of dsr.events."""
    clients = Clients(dev_ca, dsr_audit_app.port, audit_pb2_grpc.AuditServiceStub)
    yield clients("dpo")
    await clients.close()
