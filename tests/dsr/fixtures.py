"""The dsr service for real, ordering the real consent, keyvault and audit services, with
processors on the session's Tansu."""

import asyncio
import contextlib
from pathlib import Path

import asyncpg
import pytest

from consentry.dsr.v1 import dsr_admin_pb2 as admin_pb
from consentry.dsr.v1 import dsr_admin_pb2_grpc, dsr_pb2_grpc
from consentry.dsr.v1 import dsr_pb2 as pb
from consentry_client import ConsentGate, TemplateCipher
from examples.face_gate.gate import FaceGate, FaceGateProcessor
from examples.face_gate.store import FaceStore
from services.common.pki import DevCA
from services.common.runtime import ServiceRuntime
from services.dsr.app import DsrApp
from services.dsr.settings import DsrSettings
from services.common.erasure import ErasureKeySettings
from tests.support import (
    OPEN_EVENTS, Clients, erasure_key, grpc_settings, kafka_settings, secure_channel, unique, write_policy,
)

SERVICE = "consentry.dsr.v1.DsrService"
ADMIN_SERVICE = "consentry.dsr.v1.DsrAdminService"  # "*" never reaches it: only its own name
# Another controller than the one of every test purpose (tests.consent.builders.CONTROLLER).
SECOND_CONTROLLER = "river-bank"
OFFICE_RPCS = ("SubmitRequest", "GetRequest", "ListRequests", "GetExport", "ReleaseExport", "AcknowledgeRequest",
               "ExtendDeadline", "RejectRequest", "VerifyIdentity", "ListProcessors")
DSR_CLIENTS = {
    "operator": {"operator": True, "rpcs": ["*", f"{ADMIN_SERVICE}/*"], "purposes": []},
    "audit": {"operator": True, "rpcs": [OPEN_EVENTS], "purposes": []},
    # The people's portal: it signs people in, so the requests it files are verified on receipt.
    "portal": {"operator": True, "verifies_identity": True, "rpcs": [
        f"{SERVICE}/{rpc}" for rpc in ("SubmitRequest", "GetRequest", "ListRequests", "GetExport")], "purposes": []},
    # The staff's console (in the portal): it reads and decides requests for whoever is signed in.
    "console": {"operator": True, "records_staff_actions": True, "rpcs": [
        f"{SERVICE}/{rpc}" for rpc in OFFICE_RPCS if rpc != "SubmitRequest"], "purposes": []},
    # A console the audit log does not know (tests/portal/test_console.py: a change it cannot record first).
    "console-unrecorded": {"operator": True, "records_staff_actions": True, "rpcs": [
        f"{SERVICE}/{rpc}" for rpc in OFFICE_RPCS if rpc != "SubmitRequest"], "purposes": []},
    # A face system without a processor of its own (it may not register anyone).
    "face-app": {"controller": "acme-campus", "rpcs": [f"{SERVICE}/RegisterProcessor"], "purposes": []},
    # Face systems that are processors: each registers itself and confirms its own tasks.
    **{name: {"controller": "acme-campus", "rpcs": [f"{SERVICE}/RegisterProcessor", f"{SERVICE}/ConfirmTasks"], "purposes": ["*"]}
       for name in ("door-a", "door-b", "door-z", "client-door", "client-door-restart", "client-door-offline",
                    "client-door-stray-run", "client-door-stray-start",
                    "listed-1", "listed-2", "listed-3")},
    # Two controllers, for tests that keep them apart: each one's back office (a DPO's desk) and processor.
    **{name: {"controller": controller, "rpcs": [f"{SERVICE}/{rpc}" for rpc in OFFICE_RPCS], "purposes": ["*"]}
       for name, controller in (("campus-office", "acme-campus"), ("bank-office", SECOND_CONTROLLER))},
    **{name: {"controller": controller, "rpcs": [f"{SERVICE}/RegisterProcessor", f"{SERVICE}/ConfirmTasks"],
              "purposes": ["*"]}
       for name, controller in (("campus-door", "acme-campus"), ("bank-door", SECOND_CONTROLLER))},
}


def dsr_settings(run_dir: Path, ca: DevCA, database_url: str, broker, ports: dict[str, int], *,
                 erasure: ErasureKeySettings, **overrides) -> DsrSettings:
    client = ca.issue_client("dsr")
    return DsrSettings(
        database_url=database_url, kafka=kafka_settings(broker, ca, "dsr"),
        grpc=grpc_settings(ca, write_policy(run_dir / "dsr-policy.toml", DSR_CLIENTS)),
        consent_address=f"localhost:{ports['consent']}", keyvault_address=f"localhost:{ports['keyvault']}",
        audit_address=f"localhost:{ports['audit']}", tls_ca=ca.ca.cert, tls_cert=client.cert, tls_key=client.key,
        task_confirm_timeout_s=1.0, task_max_attempts=6, erasure_key=erasure, **overrides)


@pytest.fixture(scope="session")
async def dsr_app(run_dir, postgres, kafka, vault, dev_ca, consent_app, keyvault_app, audit_app):
    postgres.create_database("dsr")
    app = DsrApp(dsr_settings(run_dir, dev_ca, postgres.dsn("dsr"), kafka,
                              {"consent": consent_app.port, "keyvault": keyvault_app.port, "audit": audit_app.port},
                              erasure=erasure_key(vault, "dsr")))
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


@pytest.fixture(scope="session")
async def dsr_admin(dsr_app, dev_ca):
    """Stubs of DsrAdminService, which the same server serves."""
    clients = Clients(dev_ca, dsr_app.port, dsr_admin_pb2_grpc.DsrAdminServiceStub)
    yield clients
    await clients.close()


@pytest.fixture
async def dsr_rows(postgres, dsr_app):
    """The running dsr service's own database."""
    pool = await asyncpg.create_pool(postgres.dsn("dsr"), min_size=1, max_size=2)
    yield pool
    await pool.close()


@pytest.fixture
async def dsr_pool(postgres):
    """A dsr database of its own, migrated, with no service running on it."""
    database = unique("dsr").replace("-", "_")
    postgres.create_database(database)
    pool = await ServiceRuntime("dsr", "services.dsr.store").start_database(postgres.dsn(database), 1, 4)
    yield pool
    await pool.close()


GATES = ("door-a", "door-b")


def gate_processor(name: str, kafka, dev_ca, dsr_port: int, store: FaceStore, kind=FaceGateProcessor,
                   **options) -> FaceGateProcessor:
    """The gate's processor as the gate itself: its certificate to the broker and to dsr."""
    return kind(name, kafka.client_options(dev_ca.issue_client(name)), secure_channel(dev_ca, dsr_port, name),
                store, **options)


@pytest.fixture(scope="session")
async def face_gates(postgres, kafka, dev_ca, consent_app, keyvault_app, dsr_app):
    """Each gate: its own database, the client library's gate and cipher, and its processor."""
    channels = [secure_channel(dev_ca, consent_app.port, "face-app"), secure_channel(dev_ca, keyvault_app.port,
                                                                                     "face-app")]
    gates, processors = {}, {}
    for name in GATES:
        database = f"face_gate_{name.replace('-', '_')}"
        postgres.create_database(database)
        store = await FaceStore.open(postgres.dsn(database))
        gates[name] = FaceGate(store, ConsentGate(channels[0]), TemplateCipher(channels[1]))
        processors[name] = gate_processor(name, kafka, dev_ca, dsr_app.port, store)
    await asyncio.gather(*(p.start() for p in processors.values()))
    await asyncio.wait_for(asyncio.gather(*(p.ready.wait() for p in processors.values())), 30)
    yield gates, processors
    for name in GATES:
        await processors[name].stop()
        await gates[name].store.close()
    for channel in channels:
        await channel.close()


@contextlib.asynccontextmanager
async def correcting_processors(dsr, dsr_admin, names):
    """Processors taking corrections (no other service is asked for those) while the block runs, then
    deregistered: each would be sent the correction tasks of every later request."""
    for name in names:
        await dsr(name).RegisterProcessor(pb.RegisterProcessorRequest(capabilities=[pb.CAPABILITY_CORRECT]))
    try:
        yield names
    finally:
        for name in names:
            await dsr_admin("operator").DeregisterProcessor(admin_pb.DeregisterProcessorRequest(
                name=name, reason="test over", idempotency_key=unique("idem")))
