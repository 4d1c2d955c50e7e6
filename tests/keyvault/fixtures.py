"""The keyvault service for real: OpenBao transit with a least-privilege token, the consent service
as its gate, PostgreSQL and Tansu."""

from pathlib import Path

import pytest

from consentry.keyvault.v1 import keyvault_admin_pb2_grpc, keyvault_pb2_grpc
from services.common.pki import DevCA
from services.keyvault.app import KeyVaultApp
from services.keyvault.provision import provision
from services.keyvault.settings import KeyVaultSettings
from services.common.erasure import ErasureKeySettings, SubjectTagger, load_tagger
from tests.support import OPEN_EVENTS, Clients, erasure_key, grpc_settings, kafka_settings, signing_key, write_policy

SERVICE = "consentry.keyvault.v1.KeyVaultService"
ADMIN_SERVICE = "consentry.keyvault.v1.KeyVaultAdminService"  # "*" never reaches it: only its own name
FACE_RPCS = [f"{SERVICE}/{rpc}" for rpc in (
    "EnsureSubjectKey", "EnsureSubjectKeys", "GenerateDataKey", "DecryptDataKey", "Encrypt", "Decrypt", "GetKeyStatus",
    "WatchKeys", "RecordReleases")]
CONTROLLER = "acme-campus"  # the controller of face-app (and of consent's default purposes)
OTHER_CONTROLLER = "river-bank"  # a second controller on the same stack, for tests of the two apart
KEYVAULT_CLIENTS = {
    "admin": {"operator": True, "rpcs": ["*", f"{ADMIN_SERVICE}/*"], "purposes": ["*"]},
    "face-app": {"controller": CONTROLLER, "rpcs": FACE_RPCS, "purposes": ["*"]},
    # A bank's liveness check, granted the whole service: every RPC, every purpose, its controller only.
    "bank-app": {"controller": OTHER_CONTROLLER, "rpcs": [f"{SERVICE}/*"], "purposes": ["*"]},
    # The bank's back office, granted the admin service by a careless policy: still no operator.
    "bank-office": {"controller": OTHER_CONTROLLER, "rpcs": [f"{ADMIN_SERVICE}/*"], "purposes": ["*"]},
    "audit": {"operator": True, "rpcs": [f"{SERVICE}/GetSubjectRefs", OPEN_EVENTS], "purposes": []},
    "dsr": {"operator": True, "rpcs": [f"{ADMIN_SERVICE}/ShredSubjectKey", f"{SERVICE}/RetirePurposeKeys",
                     f"{SERVICE}/GetKeyStatus"],
            "purposes": ["*"]},
}
# Each backend's keyvault has its own database, hence its own sequence: one topic each.
TOPICS = {"wrapped": "keyvault.events", "transit-per-subject": "keyvault-per-subject.events"}


BACKENDS = ["wrapped", "transit-per-subject"]


def keyvault_settings(run_dir: Path, ca: DevCA, database_url: str, broker, consent_port: int,
                      vault_address: str, vault_token: str, backend: str, *,
                      erasure: ErasureKeySettings) -> KeyVaultSettings:
    client = ca.issue_client("keyvault")
    return KeyVaultSettings(
        database_url=database_url, kafka=kafka_settings(broker, ca, "keyvault"), pool_min_size=2,
        grpc=grpc_settings(ca, write_policy(run_dir / "keyvault-policy.toml", KEYVAULT_CLIENTS)),
        consent_address=f"localhost:{consent_port}", consent_tls_ca=ca.ca.cert, consent_tls_cert=client.cert,
        consent_tls_key=client.key, vault_address=vault_address, vault_token=vault_token, backend=backend,
        topic=TOPICS[backend], certificate_signing_key=signing_key(run_dir / "keys" / "certificates.pem"),
        erasure_key=erasure)


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request) -> str:
    """Every keyvault test runs against both backends."""
    return request.param


@pytest.fixture(scope="session")
def vault_token(vault, backend) -> str:
    return provision(vault.client(), backend, controllers=(CONTROLLER, OTHER_CONTROLLER))


@pytest.fixture(scope="session")
def keyvault_database(postgres, backend) -> str:
    name = f"keyvault_{backend.replace('-', '_')}"
    postgres.create_database(name)
    return name


@pytest.fixture(scope="session")
async def keyvault_app(run_dir, postgres, kafka, vault, vault_token, dev_ca, consent_app, backend, keyvault_database):
    app = KeyVaultApp(keyvault_settings(run_dir, dev_ca, postgres.dsn(keyvault_database), kafka,
                                        consent_app.port, vault.address, vault_token, backend,
                                        erasure=erasure_key(vault, "keyvault")))
    await app.start()
    yield app
    await app.stop()


@pytest.fixture(scope="session")
async def keyvault(keyvault_app, dev_ca):
    clients = Clients(dev_ca, keyvault_app.port, keyvault_pb2_grpc.KeyVaultServiceStub)
    yield clients
    await clients.close()


@pytest.fixture(scope="session")
async def keyvault_admin(keyvault_app, dev_ca):
    """Stubs of KeyVaultAdminService, which the same server serves."""
    clients = Clients(dev_ca, keyvault_app.port, keyvault_admin_pb2_grpc.KeyVaultAdminServiceStub)
    yield clients
    await clients.close()


@pytest.fixture(scope="session")
def kv_admin_service(keyvault_admin):
    return keyvault_admin("admin")


@pytest.fixture(scope="session")
def face(keyvault):
    return keyvault("face-app")


@pytest.fixture(scope="session")
def bank_face(keyvault):
    """A client of OTHER_CONTROLLER."""
    return keyvault("bank-app")


@pytest.fixture(scope="session")
def kv_admin(keyvault):
    return keyvault("admin")


@pytest.fixture(scope="session")
def tagger(vault) -> SubjectTagger:
    """What keyvault knows a subject by: the tag under the erasure key every service shares."""
    return load_tagger(erasure_key(vault, "keyvault-tests"))
