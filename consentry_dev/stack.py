"""The infrastructure of the dev platform and each service's environment on it, as `consentry dev up`
sets them up (tests and the benchmarks build the same way). It is set up as a careful operator
would: PostgreSQL asks every role for its password (one role per service, each owning only its
database), Kafka admits only clients with a certificate (one per service and per processor), OpenBao
has a random root token, and every service reads Vault with a token of its own."""

import json
import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

from consentry_dev.launchers import OpenBaoProcess, PostgresProcess, TansuProcess, free_port
from consentry_dev.launchers.process import ManagedProcess, run_async
from consentry_dev.policy import DEMO_CONTROLLER, DEMO_PURPOSE, DEMO_SUBJECTS
from services.common.pg_admin import provision_database
from services.common.pki import DevCA
from services.common.settings import KafkaSettings
from services.common.signing import write_key
from services.provision.topics import PLATFORM_TOPICS

TOPICS = list(PLATFORM_TOPICS)
AUDIT_DATABASE = "audit"


@dataclass
class Stack:
    """The infrastructure every service's settings point into."""

    run_dir: Path
    pg: PostgresProcess
    kafka: TansuProcess
    bao: OpenBaoProcess
    ca: DevCA
    policy: Path

    def database(self, name: str, role: str) -> str:
        """A database only `role` (with its new password) may enter; its DSN."""
        password = secrets.token_urlsafe(24)
        run_async(lambda: provision_database(self.pg.dsn(), name, role, password))
        return self.pg.dsn(name, role, password)

    def signing_key(self, name: str) -> Path:
        path = self.run_dir / "keys" / f"{name}.pem"
        return path if path.exists() else write_key(path)

    def kafka_env(self, prefix: str, identity: str) -> dict[str, str]:
        """The service's Kafka settings as environment variables: the broker, and its own certificate."""
        settings: KafkaSettings = self.kafka.client_settings(self.ca.issue_client(identity))
        return {f"{prefix}KAFKA__{field.upper()}": str(value)
                for field, value in settings.model_dump(mode="json", exclude_unset=True).items()}


class ServiceProcess(ManagedProcess):
    """A Consentry service as its own OS process, configured only through its environment."""

    def __init__(self, run_dir: Path, module: str, env: dict[str, str], port: int) -> None:
        self.name = module.rsplit(".", 1)[-1]
        super().__init__(run_dir, port)
        self._module, self._env = module, env

    def command(self) -> list[str]:
        return [sys.executable, "-m", self._module]

    def popen_kwargs(self) -> dict:
        return {"env": {**os.environ, **self._env}}

    def wait_ready(self, timeout: float) -> None:
        self.wait_until(lambda: "service started" in self.log_path.read_text(errors="replace"), timeout,
                        f"{self._module} to start")


class FaceGateProcess(ServiceProcess):
    """The reference face system (examples/face_gate), a processor of the dsr service."""

    serves_port = False

    def __init__(self, run_dir: Path, env: dict[str, str]) -> None:
        super().__init__(run_dir, "examples.face_gate", env, free_port())
        self.name = "face-gate"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "examples.face_gate", "serve"]

    def wait_ready(self, timeout: float) -> None:
        self.wait_until(lambda: "face gate started" in self.log_path.read_text(errors="replace"), timeout,
                        "the face gate to start")


def _service_env(prefix: str, stack: Stack, identity: str, database_url: str, port: int,
                 kafka: bool = True) -> dict[str, str]:
    server = stack.ca.issue_server()
    return {
        f"{prefix}DATABASE_URL": database_url,
        f"{prefix}GRPC__LISTEN": f"127.0.0.1:{port}",
        f"{prefix}GRPC__TLS_CERT": str(server.cert),
        f"{prefix}GRPC__TLS_KEY": str(server.key),
        f"{prefix}GRPC__TLS_CLIENT_CA": str(stack.ca.ca.cert),
        f"{prefix}GRPC__POLICY_FILE": str(stack.policy),
        **(stack.kafka_env(prefix, identity) if kafka else {}),
    }


def erasure_env(prefix: str, stack: Stack, identity: str) -> dict[str, str]:
    """The erasure key in OpenBao (created once), read with a token of this service's own."""
    from services.common.erasure import provision_erasure_key
    return {f"{prefix}ERASURE_KEY__VAULT_ADDRESS": stack.bao.address,
            f"{prefix}ERASURE_KEY__VAULT_TOKEN": provision_erasure_key(stack.bao.client(), identity)}


def consent_env(stack: Stack, port: int, database: str = "consent") -> dict[str, str]:
    prefix = "CONSENTRY_CONSENT_"
    return {**_service_env(prefix, stack, "consent", stack.database(database, database), port),
            **erasure_env(prefix, stack, "consent"),
            f"{prefix}EXPIRY_INTERVAL_S": "30", f"{prefix}RECEIPT_SIGNING_KEY": str(stack.signing_key("receipts"))}


def keyvault_env(stack: Stack, port: int, consent_port: int, database: str = "keyvault",
                 controllers: tuple[str, ...] = (DEMO_CONTROLLER,)) -> dict[str, str]:
    """With the KEKs of `controllers` (each controller's keys are wrapped under its own)."""
    from services.keyvault.provision import provision
    client = stack.ca.issue_client("keyvault")
    prefix = "CONSENTRY_KEYVAULT_"
    return {**_service_env(prefix, stack, "keyvault", stack.database(database, database), port),
            **erasure_env(prefix, stack, "keyvault"),
            f"{prefix}CONSENT_ADDRESS": f"localhost:{consent_port}", f"{prefix}CONSENT_TLS_CA": str(stack.ca.ca.cert),
            f"{prefix}CONSENT_TLS_CERT": str(client.cert), f"{prefix}CONSENT_TLS_KEY": str(client.key),
            f"{prefix}VAULT_ADDRESS": stack.bao.address, f"{prefix}VAULT_TOKEN": provision(stack.bao.client(), controllers=controllers),
            f"{prefix}CERTIFICATE_SIGNING_KEY": str(stack.signing_key("certificates"))}


def audit_env(stack: Stack, port: int, ports: dict[str, int]) -> dict[str, str]:
    """Provisions the audit database (owner and service roles) and the checkpoint key in OpenBao;
    `ports`: keyvault's and every producer's it reads from (consent, keyvault, dsr)."""
    from services.audit import provision as audit
    owner, service = audit.OWNER, audit.SERVICE
    passwords = {owner: secrets.token_urlsafe(24), service: secrets.token_urlsafe(24)}
    run_async(lambda: audit.provision_database(stack.pg.dsn(), AUDIT_DATABASE, owner, service, passwords))
    client = stack.ca.issue_client("audit")
    prefix = "CONSENTRY_AUDIT_"
    dsn = stack.pg.dsn(AUDIT_DATABASE, service, passwords[service])
    return {**_service_env(prefix, stack, "audit", dsn, port),
            f"{prefix}OWNER_DATABASE_URL": stack.pg.dsn(AUDIT_DATABASE, owner, passwords[owner]),
            **{f"{prefix}{name.upper()}_ADDRESS": f"localhost:{p}" for name, p in ports.items()},
            f"{prefix}TLS_CA": str(stack.ca.ca.cert),
            f"{prefix}TLS_CERT": str(client.cert), f"{prefix}TLS_KEY": str(client.key),
            f"{prefix}VAULT_ADDRESS": stack.bao.address, f"{prefix}VAULT_TOKEN": audit.provision_vault(stack.bao.client())}


def dsr_env(stack: Stack, port: int, ports: dict[str, int], database: str = "dsr") -> dict[str, str]:
    client = stack.ca.issue_client("dsr")
    prefix = "CONSENTRY_DSR_"
    return {**_service_env(prefix, stack, "dsr", stack.database(database, database), port),
            **erasure_env(prefix, stack, "dsr"),
            **{f"{prefix}{name.upper()}_ADDRESS": f"localhost:{p}" for name, p in ports.items()},
            f"{prefix}TLS_CA": str(stack.ca.ca.cert), f"{prefix}TLS_CERT": str(client.cert),
            f"{prefix}TLS_KEY": str(client.key)}


def portal_env(stack: Stack, port: int, http_port: int, ports: dict[str, int],
               smtp_port: int | None = None) -> dict[str, str]:
    """PortalService on `port`, the pages on `http_port` (plain HTTP on loopback: a dev stack has no TLS
    front; browsers keep Secure cookies for localhost); `ports`: consent's and dsr's; sign-in codes
    mailed to the SMTP server on `smtp_port` (consentry_dev/mail.py), if one is given. The staff's console
    runs beside the pages with its own identity ("console"); `ports` then names audit's too."""
    client, console = stack.ca.issue_client("portal"), stack.ca.issue_client("console")
    prefix = "CONSENTRY_PORTAL_"
    return {**_service_env(prefix, stack, "portal", stack.database("portal", "portal"), port, kafka=False),
            f"{prefix}HTTP_LISTEN": f"127.0.0.1:{http_port}", f"{prefix}PUBLIC_URL": f"http://localhost:{http_port}",
            **{f"{prefix}{name.upper()}_ADDRESS": f"localhost:{p}" for name, p in ports.items()},
            **({f"{prefix}SMTP__HOST": "127.0.0.1", f"{prefix}SMTP__PORT": str(smtp_port),
                f"{prefix}SMTP__SECURITY": "none"} if smtp_port else {}),
            f"{prefix}TLS_CA": str(stack.ca.ca.cert),
            f"{prefix}TLS_CERT": str(client.cert), f"{prefix}TLS_KEY": str(client.key),
            f"{prefix}CONSOLE__TLS_CERT": str(console.cert), f"{prefix}CONSOLE__TLS_KEY": str(console.key)}


def face_gate_env(stack: Stack, ports: dict[str, int], name: str = "demo-gate") -> dict[str, str]:
    """The reference face system as its own client: one certificate for the services and the broker."""
    client = stack.ca.issue_client(name)
    database = name.replace("-", "_")
    return {"FACE_GATE_NAME": name, "FACE_GATE_DATABASE_URL": stack.database(database, database),
            "FACE_GATE_KAFKA_BOOTSTRAP_SERVERS": stack.kafka.bootstrap_servers,
            **{f"FACE_GATE_{n.upper()}_ADDRESS": f"localhost:{p}" for n, p in ports.items()},
            "FACE_GATE_TLS_CA": str(stack.ca.ca.cert), "FACE_GATE_TLS_CERT": str(client.cert),
            "FACE_GATE_TLS_KEY": str(client.key), "FACE_GATE_PURPOSES": json.dumps([DEMO_PURPOSE]),
            "FACE_GATE_DEMO_SUBJECTS": json.dumps(DEMO_SUBJECTS)}

