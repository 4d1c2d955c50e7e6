"""The dsr service for real, ordering the real consent, keyvault and audit services, with
processors on the session's Tansu."""

from pathlib import Path

import pytest

from consentry.dsr.v1 import dsr_pb2_grpc
from services.common.pki import DevCA
from services.common.runtime import ServiceRuntime
from services.dsr.app import DsrApp
from services.dsr.settings import DsrSettings
from tests.support import Clients, grpc_settings, kafka_settings, unique, write_policy

SERVICE = "consentry.dsr.v1.DsrService"
DSR_CLIENTS = {
    "operator": {"rpcs": ["*"], "purposes": []},
    "portal": {"rpcs": [f"{SERVICE}/SubmitRequest", f"{SERVICE}/GetRequest", f"{SERVICE}/GetExport"],
               "purposes": []},
    # A face system without a processor of its own (it may not register anyone).
    "face-app": {"rpcs": [f"{SERVICE}/RegisterProcessor"], "purposes": []},
    # Face systems that are processors: each registers itself and confirms its own tasks.
    **{name: {"rpcs": [f"{SERVICE}/RegisterProcessor", f"{SERVICE}/ConfirmTasks"], "purposes": ["*"]}
       for name in ("door-a", "door-b", "door-z", "client-door", "client-door-restart", "client-door-offline")},
}


def dsr_settings(run_dir: Path, ca: DevCA, database_url: str, broker, ports: dict[str, int],
                 **overrides) -> DsrSettings:
    client = ca.issue_client("dsr")
    return DsrSettings(
        database_url=database_url, kafka=kafka_settings(broker, ca, "dsr"),
        grpc=grpc_settings(ca, write_policy(run_dir / "dsr-policy.toml", DSR_CLIENTS)),
        consent_address=f"localhost:{ports['consent']}", keyvault_address=f"localhost:{ports['keyvault']}",
        audit_address=f"localhost:{ports['audit']}", tls_ca=ca.ca.cert, tls_cert=client.cert, tls_key=client.key,
        task_confirm_timeout_s=1.0, task_max_attempts=6, **overrides)


@pytest.fixture(scope="session")
async def dsr_app(run_dir, postgres, kafka, dev_ca, consent_app, keyvault_app, audit_app):
    postgres.create_database("dsr")
    app = DsrApp(dsr_settings(run_dir, dev_ca, postgres.dsn("dsr"), kafka,
                              {"consent": consent_app.port, "keyvault": keyvault_app.port, "audit": audit_app.port}))
    await app.start()
    yield app
    await app.stop()


@pytest.fixture(scope="session")
async def dsr(dsr_app, dev_ca):
    clients = Clients(dev_ca, dsr_app.port, dsr_pb2_grpc.DsrServiceStub)
    yield clients
    await clients.close()


@pytest.fixture(scope="session")
def operator(dsr):
    return dsr("operator")


@pytest.fixture
async def dsr_pool(postgres):
    """A dsr database of its own, migrated, with no service running on it."""
    database = unique("dsr").replace("-", "_")
    postgres.create_database(database)
    pool = await ServiceRuntime("dsr", "services.dsr.store").start_database(postgres.dsn(database), 1, 4)
    yield pool
    await pool.close()
