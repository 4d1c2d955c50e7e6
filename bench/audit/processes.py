"""The audit section's processes: audit services (`python -m services.audit`, configured as the dev
platform configures the service: mTLS, the policy file, a database with a schema owner and an
insert-only service role, the Ed25519 checkpoint key in OpenBao with the sign-and-read token the
service's provisioning gives, the wrapped keyvault for subject references, default pool and batch
settings, log level WARNING), each on a database and topic of its own, and a plaintext Tansu for the
Kafka comparison. Everything is stopped with the run."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
from dataclasses import dataclass, replace

from bench.audit.events import TOPIC
from bench.common.platform import DevStack, TansuProcess, free_port
from bench.common.processes import GrpcServerProcess
from bench.common.stack import Stack, service_env
from services.audit.provision import provision_database, provision_vault
from services.audit.settings import AuditSettings

OWNER, ROLE = "consentry_audit_owner", "consentry_audit"  # the roles provision_database makes
FIELDS = AuditSettings.model_fields
KEY_NAME, MOUNT = FIELDS["checkpoint_key_name"].default, FIELDS["transit_mount"].default


@dataclass(frozen=True)
class AuditProcesses:
    s: Stack
    token: str  # the checkpoint key's sign-and-read token
    passwords: dict[str, str]  # role -> password, the same in every database

    @classmethod
    def provision(cls, s: Stack, databases: list[str]) -> AuditProcesses:
        """The checkpoint key, and each database with its owner and service role."""
        token = provision_vault(s.vault_metrics.client(), KEY_NAME, MOUNT)
        passwords = {OWNER: secrets.token_urlsafe(24), ROLE: secrets.token_urlsafe(24)}
        for database in databases:
            asyncio.run(provision_database(s.pg.dsn(), database, OWNER, ROLE, passwords))
        return cls(s, token, passwords)

    def dsn(self, database: str, role: str = ROLE) -> str:
        return self.s.pg.dsn(database, role, self.passwords[role])

    def start(self, name: str, database: str, topic: str, broker: DevStack | None = None) -> GrpcServerProcess:
        """An audit process on `database`, reading only `topic` on the broker of `broker` (the shared one by
        default) as the client "audit", which is also its certificate as the keyvault's client."""
        s, p, port = self.s, "CONSENTRY_AUDIT_", free_port()
        cert, key, client_ca = s.server_tls
        client = s.ca.issue_client("audit")
        env = {
            f"{p}DATABASE_URL": self.dsn(database), f"{p}OWNER_DATABASE_URL": self.dsn(database, OWNER),
            **(broker or s.dev).kafka_env(p, "audit"), f"{p}TOPICS": json.dumps([topic]),
            f"{p}GRPC__LISTEN": f"127.0.0.1:{port}", f"{p}GRPC__TLS_CERT": str(cert), f"{p}GRPC__TLS_KEY": str(key),
            f"{p}GRPC__TLS_CLIENT_CA": str(client_ca), f"{p}GRPC__POLICY_FILE": str(s.policy),
            f"{p}KEYVAULT_ADDRESS": f"localhost:{s.keyvaults['wrapped'].port}", f"{p}TLS_CA": str(client_ca),
            f"{p}TLS_CERT": str(client.cert), f"{p}TLS_KEY": str(client.key),
            f"{p}VAULT_ADDRESS": s.vault_metrics.address, f"{p}VAULT_TOKEN": self.token,
        }
        proc = GrpcServerProcess(s.run_dir / name, name, ["services.audit"], s.client_tls,
                                 service_env("audit", env, s.event_loop), port)
        s.on_exit(proc.stop)
        proc.start()
        pid = proc.pid
        assert pid is not None
        s.on_exit(lambda: resume(pid))  # runs before proc.stop: a stopped process would not see SIGTERM
        s.pids[name] = pid
        return proc

    def plain_broker(self) -> DevStack:
        """A plaintext Tansu of the section's own (no front, no certificates), for audit-plain."""
        kafka = TansuProcess(self.s.run_dir / "kafka-plain")
        self.s.on_exit(kafka.stop)
        kafka.start()
        kafka.create_topics([TOPIC])
        assert kafka.pid is not None
        self.s.pids["tansu-plain"] = kafka.pid
        return replace(self.s.dev, kafka=kafka)


def resume(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGCONT)
    except ProcessLookupError:
        pass
