"""The whole platform as `consentry dev up` runs it: PostgreSQL, Tansu and OpenBao of its own (every
row and every message belongs to this test), each service (the portal with its mail server) and two
reference face gates as OS processes configured through their environment, with every bounded retention shortened, so that a
test can wait out what an erasure leaves for a time."""

import asyncio
import json
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from consentry.audit.v1 import audit_pb2_grpc
from consentry.consent.v1 import consent_admin_pb2_grpc, consent_pb2_grpc
from consentry.dsr.v1 import dsr_pb2_grpc
from consentry.keyvault.v1 import keyvault_pb2_grpc
from consentry.portal.v1 import portal_pb2_grpc
from consentry_dev.mail import Inbox
from consentry_dev.policy import CONSENT, DSR, KEYVAULT, POLICY
from consentry_dev.stack import (
    AUDIT_DATABASE, TOPICS, FaceGateProcess, ServiceProcess, Stack, audit_env, consent_env, dsr_env, face_gate_env,
    keyvault_env, portal_env,
)
from consentry_dev.launchers import OpenBaoProcess, PostgresProcess, TansuProcess, broker_tls, free_port
from services.common.pki import DevCA
from tests.support import secure_channel

GATES = ("gate-north", "gate-south")
CONTROLLER = "acme"  # the controller both gates act for, and whose purposes the test registers
# Seconds instead of hours and days: what erasure leaves for a bounded time is gone this long after.
RETENTION_S = 3
SHORT_RETENTIONS = {
    "CONSENTRY_AUDIT_ACKNOWLEDGE_INTERVAL_S": "1",
    **{f"CONSENTRY_{service}_RETENTION__{name}": str(RETENTION_S)
       for service in ("CONSENT", "KEYVAULT", "DSR")
       for name in ("OUTBOX_S", "IDEMPOTENCY_S", "INTERVAL_S")},
    "CONSENTRY_DSR_RETENTION__FINISHED_REQUEST_S": str(RETENTION_S),
    "CONSENTRY_PORTAL_SESSION_AFTER_DELETION_S": str(RETENTION_S),
    "CONSENTRY_PORTAL_SWEEP_INTERVAL_S": "1",
}


def gate_policy(name: str, purposes: list[str]) -> str:
    rpcs = [f"{CONSENT}/{r}" for r in ("GetPurpose", "CheckConsent", "CheckConsents", "RecordInteraction")]
    rpcs += [f"{KEYVAULT}/{r}" for r in ("EnsureSubjectKey", "GenerateDataKey", "DecryptDataKey", "GetKeyStatus")]
    rpcs += [f"{DSR}/{r}" for r in ("RegisterProcessor", "ConfirmTasks")]
    return (f"\n[clients.{name}]\ncontroller = {json.dumps(CONTROLLER)}\nrpcs = {json.dumps(rpcs)}\n"
            f"purposes = {json.dumps(purposes)}\n")


@dataclass
class Platform:
    infra: Stack
    ports: dict[str, int]
    databases: dict[str, str]  # name: DSN, every database of the platform and of the gates
    portal_url: str  # the portal's pages
    inbox: Inbox  # the mail the portal sends
    gates: dict[str, dict[str, str]] = field(default_factory=dict)  # name: its environment
    _channels: list[grpc.aio.Channel] = field(default_factory=list)

    def _channel(self, service: str, client: str) -> grpc.aio.Channel:
        channel = secure_channel(self.infra.ca, self.ports[service], client)
        self._channels.append(channel)
        return channel

    def consent(self, client: str = "admin"):
        return consent_pb2_grpc.ConsentServiceStub(self._channel("consent", client))

    def consent_admin(self, client: str = "admin"):
        return consent_admin_pb2_grpc.ConsentAdminServiceStub(self._channel("consent", client))

    def keyvault(self, client: str = "admin"):
        return keyvault_pb2_grpc.KeyVaultServiceStub(self._channel("keyvault", client))

    def dsr(self, client: str = "admin"):
        return dsr_pb2_grpc.DsrServiceStub(self._channel("dsr", client))

    def audit(self, client: str = "admin"):
        return audit_pb2_grpc.AuditServiceStub(self._channel("audit", client))

    def portal(self, client: str = "admin"):
        return portal_pb2_grpc.PortalServiceStub(self._channel("portal", client))

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self._channels))


def start_platform(stack: ExitStack, run_dir: Path, gate_purposes: dict[str, list[str]],
                   settings: dict[str, str] | None = None) -> Platform:
    """Started in the order `dev up` uses; stopped in reverse by `stack`. `settings`: environment
    variables of the services (by their prefix) over the shortened retentions."""
    ca = DevCA(run_dir / "pki")
    postgres = stack.enter_context(PostgresProcess(run_dir / "postgres").start())
    kafka = stack.enter_context(TansuProcess(run_dir / "kafka", tls=broker_tls(ca)).start())
    vault = stack.enter_context(OpenBaoProcess(run_dir / "openbao").start())
    kafka.create_topics(TOPICS)
    policy = run_dir / "policy.toml"
    policy.write_text(POLICY + "".join(gate_policy(g, p) for g, p in gate_purposes.items()))
    infra = Stack(run_dir, postgres, kafka, vault, ca, policy)
    ports = {name: free_port() for name in ("consent", "keyvault", "audit", "dsr", "portal", "portal-web")}
    databases = {name: name for name in ("consent", "keyvault", "dsr", "portal")}
    inbox = stack.enter_context(Inbox())

    def service(name: str, env: dict[str, str]) -> None:
        env = {**env, **{k: v for k, v in {**SHORT_RETENTIONS, **(settings or {})}.items()
                         if k.startswith(f"CONSENTRY_{name.upper()}_")}}
        stack.enter_context(ServiceProcess(run_dir / name, f"services.{name}", env, ports[name]).start())

    service("consent", consent_env(infra, ports["consent"], databases["consent"]))
    service("keyvault", keyvault_env(infra, ports["keyvault"], ports["consent"], databases["keyvault"],
                                            controllers=(CONTROLLER,)))
    service("audit", audit_env(infra, ports["audit"], {n: ports[n] for n in ("keyvault", "consent", "dsr")}))
    service("dsr", dsr_env(infra, ports["dsr"], {n: ports[n] for n in ("consent", "keyvault", "audit", "portal")},
                           databases["dsr"]))
    service("portal", portal_env(infra, ports["portal"], ports["portal-web"], {n: ports[n] for n in ("consent", "dsr")},
                                 inbox.port))
    platform = Platform(infra, ports, {name: postgres.dsn(db) for name, db in databases.items()},
                        f"http://localhost:{ports['portal-web']}", inbox)
    platform.databases["audit"] = postgres.dsn(AUDIT_DATABASE)
    for name, purposes in gate_purposes.items():
        env = {**face_gate_env(infra, {n: ports[n] for n in ("consent", "keyvault", "dsr")}, name),
               "FACE_GATE_PURPOSES": json.dumps(purposes), "FACE_GATE_DEMO_SUBJECTS": "[]",
               "FACE_GATE_JOURNAL_CHECK_S": str(RETENTION_S)}
        stack.enter_context(FaceGateProcess(run_dir / name, env).start())
        platform.gates[name] = env
        platform.databases[name] = postgres.dsn(name.replace("-", "_"))
    return platform
