"""`consentry dev up`: the whole platform on embedded components, in the foreground, until Ctrl-C.

Everything lives under one run directory, made anew at every start. It is set up as a careful
operator would: PostgreSQL asks every role for its password (one role per service, each owning only
its database), Kafka admits only clients with a certificate (one per service and per processor),
OpenBao has a random root token, and every secret (keys, passwords, tokens, logs that may print one)
is in a file only its owner can read. endpoints.json tells the client commands where the services
listen and which certificates to use; it holds no secret."""

import asyncio
import json
import os
import shutil
import signal
import sys
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from services.common.devstack import OpenBaoProcess, PostgresProcess, TansuProcess, broker_tls, free_port
from services.common.devstack.process import ManagedProcess, private_file
from services.common.devstack.procfs import kill_tree, wait_gone
from services.common.pki import DevCA
from services.common.settings import KafkaSettings
from services.common.signing import write_key
from services.common.topics import CONSENT_EVENTS, DSR_EVENTS, KEYVAULT_EVENTS, REPLAY_REQUESTS

TOPICS = [CONSENT_EVENTS, KEYVAULT_EVENTS, DSR_EVENTS, REPLAY_REQUESTS]
DEMO_PURPOSE = "demo-gate-access"
DEMO_SUBJECTS = ["demo-mei", "demo-tom"]
CONSENT = "consentry.consent.v1.ConsentService"
KEYVAULT = "consentry.keyvault.v1.KeyVaultService"
AUDIT = "consentry.audit.v1.AuditService"
DSR = "consentry.dsr.v1.DsrService"
EVENTS = "consentry.events.v1.EventService"  # served by every producer: consent, keyvault, dsr
AUDIT_DATABASE = "audit"
RUN_DIR_MARK = ".consentry-dev"
# Which client (certificate CN) may call which RPCs, for which purposes. One file serves every
# service: each only sees calls to its own RPCs.
POLICY = f"""[clients.admin]
rpcs = ["*"]
purposes = ["*"]

[clients.demo-gate]
rpcs = ["{CONSENT}/GetPurpose", "{CONSENT}/GrantConsent", "{CONSENT}/CheckConsent", "{CONSENT}/CheckConsents",
        "{CONSENT}/WithdrawConsent", "{CONSENT}/ListConsents", "{CONSENT}/GetConsentHistory", "{CONSENT}/GetConsentAsOf",
        "{CONSENT}/RecordInteraction", "{CONSENT}/GetReceiptKey", "{CONSENT}/RenderReceipt",
        "{KEYVAULT}/EnsureSubjectKey", "{KEYVAULT}/GenerateDataKey", "{KEYVAULT}/DecryptDataKey",
        "{KEYVAULT}/Encrypt", "{KEYVAULT}/Decrypt", "{KEYVAULT}/GetKeyStatus", "{AUDIT}/Append",
        "{DSR}/RegisterProcessor", "{DSR}/ConfirmTasks"]
purposes = ["{DEMO_PURPOSE}"]

[clients.keyvault]
rpcs = ["{CONSENT}/CheckConsent", "{CONSENT}/CheckConsents"]
purposes = ["*"]

[clients.audit]
rpcs = ["{KEYVAULT}/GetSubjectRefs", "{EVENTS}/OpenEvents"]
purposes = []

[clients.dsr]
rpcs = ["{CONSENT}/EraseSubject", "{CONSENT}/ListConsents", "{CONSENT}/GetConsentHistory", "{CONSENT}/GetPurpose",
        "{KEYVAULT}/ShredSubjectKey", "{KEYVAULT}/RetirePurposeKeys", "{KEYVAULT}/GetKeyStatus", "{AUDIT}/QueryEvents",
        "{EVENTS}/OpenEvents"]
purposes = ["*"]

[clients.dpo]
rpcs = ["{AUDIT}/GetCheckpoint", "{AUDIT}/GetPublicKey", "{AUDIT}/GetInclusionProof", "{AUDIT}/GetConsistencyProof",
        "{AUDIT}/QueryEvents", "{AUDIT}/ExportEvents", "{AUDIT}/VerifyLog", "{AUDIT}/GetCompleteness",
        "{KEYVAULT}/VerifyCertificate"]
purposes = []
"""


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
        password = self.pg.create_role(role)
        self.pg.create_database(name, owner=role)
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


def _service_env(prefix: str, stack: Stack, identity: str, database_url: str, port: int) -> dict[str, str]:
    server = stack.ca.issue_server()
    return {
        f"{prefix}DATABASE_URL": database_url,
        f"{prefix}GRPC__LISTEN": f"127.0.0.1:{port}",
        f"{prefix}GRPC__TLS_CERT": str(server.cert),
        f"{prefix}GRPC__TLS_KEY": str(server.key),
        f"{prefix}GRPC__TLS_CLIENT_CA": str(stack.ca.ca.cert),
        f"{prefix}GRPC__POLICY_FILE": str(stack.policy),
        **stack.kafka_env(prefix, identity),
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


def keyvault_env(stack: Stack, port: int, consent_port: int, database: str = "keyvault") -> dict[str, str]:
    from services.keyvault.provision import provision
    client = stack.ca.issue_client("keyvault")
    prefix = "CONSENTRY_KEYVAULT_"
    return {**_service_env(prefix, stack, "keyvault", stack.database(database, database), port),
            **erasure_env(prefix, stack, "keyvault"),
            f"{prefix}CONSENT_ADDRESS": f"localhost:{consent_port}", f"{prefix}CONSENT_TLS_CA": str(stack.ca.ca.cert),
            f"{prefix}CONSENT_TLS_CERT": str(client.cert), f"{prefix}CONSENT_TLS_KEY": str(client.key),
            f"{prefix}VAULT_ADDRESS": stack.bao.address, f"{prefix}VAULT_TOKEN": provision(stack.bao.client()),
            f"{prefix}CERTIFICATE_SIGNING_KEY": str(stack.signing_key("certificates"))}


def audit_env(stack: Stack, port: int, ports: dict[str, int]) -> dict[str, str]:
    """Provisions the audit database (owner and service roles) and the checkpoint key in OpenBao;
    `ports`: keyvault's and every producer's it reads from (consent, keyvault, dsr)."""
    import secrets

    from services.audit.provision import provision_database, provision_vault
    owner, service = "consentry_audit_owner", "consentry_audit"
    passwords = {owner: secrets.token_urlsafe(24), service: secrets.token_urlsafe(24)}
    asyncio.run(provision_database(stack.pg.dsn(), AUDIT_DATABASE, owner, service, passwords))
    client = stack.ca.issue_client("audit")
    prefix = "CONSENTRY_AUDIT_"
    dsn = stack.pg.dsn(AUDIT_DATABASE, service, passwords[service])
    return {**_service_env(prefix, stack, "audit", dsn, port),
            f"{prefix}OWNER_DATABASE_URL": stack.pg.dsn(AUDIT_DATABASE, owner, passwords[owner]),
            **{f"{prefix}{name.upper()}_ADDRESS": f"localhost:{p}" for name, p in ports.items()},
            f"{prefix}TLS_CA": str(stack.ca.ca.cert),
            f"{prefix}TLS_CERT": str(client.cert), f"{prefix}TLS_KEY": str(client.key),
            f"{prefix}VAULT_ADDRESS": stack.bao.address, f"{prefix}VAULT_TOKEN": provision_vault(stack.bao.client())}


def dsr_env(stack: Stack, port: int, ports: dict[str, int], database: str = "dsr") -> dict[str, str]:
    client = stack.ca.issue_client("dsr")
    prefix = "CONSENTRY_DSR_"
    return {**_service_env(prefix, stack, "dsr", stack.database(database, database), port),
            **erasure_env(prefix, stack, "dsr"),
            **{f"{prefix}{name.upper()}_ADDRESS": f"localhost:{p}" for name, p in ports.items()},
            f"{prefix}TLS_CA": str(stack.ca.ca.cert), f"{prefix}TLS_CERT": str(client.cert),
            f"{prefix}TLS_KEY": str(client.key)}


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


def fresh_run_dir(run_dir: Path) -> Path:
    """The run directory, emptied: every start begins from nothing (the broker and OpenBao keep
    nothing between runs, so neither may the database). Processes a killed run left behind are
    stopped first. A directory that is not a run directory is refused, never emptied."""
    run_dir = run_dir.resolve()
    if run_dir.exists() and any(run_dir.iterdir()):
        if not (run_dir / RUN_DIR_MARK).exists():
            raise SystemExit(f"{run_dir} is not empty and not a dev run directory: give another --run-dir")
        for pid_file in run_dir.rglob("*.pid"):
            try:
                pid = int(pid_file.read_text())
                inside = Path(os.readlink(f"/proc/{pid}/cwd")).is_relative_to(run_dir)
            except (OSError, ValueError):
                continue
            if inside:
                wait_gone(kill_tree(pid))
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    (run_dir / RUN_DIR_MARK).touch()
    return run_dir


def up(run_dir: Path, *, ready_file: Path | None = None) -> None:
    # Absolute: each process runs in its own folder, and the paths in its settings must still hold.
    run_dir = fresh_run_dir(run_dir)
    stop = _stop_on_signals()
    with ExitStack() as stack:
        print("starting PostgreSQL, Tansu (Kafka protocol) and OpenBao ...", flush=True)
        ca = DevCA(run_dir / "pki")
        pg = stack.enter_context(PostgresProcess(run_dir / "postgres").start())
        kafka = stack.enter_context(TansuProcess(run_dir / "kafka", tls=broker_tls(ca)).start())
        bao = stack.enter_context(OpenBaoProcess(run_dir / "openbao").start())
        root_token = bao.write_root_token(run_dir / "openbao" / "root-token")
        kafka.create_topics(TOPICS)
        policy = run_dir / "policy.toml"
        policy.write_text(POLICY)
        infra = Stack(run_dir, pg, kafka, bao, ca, policy)

        clients = {name: ca.issue_client(name) for name in ("admin", "demo-gate", "dpo")}
        consent_port, keyvault_port, audit_port, dsr_port = free_port(), free_port(), free_port(), free_port()
        stack.enter_context(ServiceProcess(run_dir / "consent", "services.consent", consent_env(infra, consent_port),
                                           consent_port).start())
        stack.enter_context(ServiceProcess(run_dir / "keyvault", "services.keyvault",
                                           keyvault_env(infra, keyvault_port, consent_port), keyvault_port).start())
        stack.enter_context(ServiceProcess(run_dir / "audit", "services.audit",
                                           audit_env(infra, audit_port, {"keyvault": keyvault_port, "consent": consent_port, "dsr": dsr_port}),
                                           audit_port).start())
        stack.enter_context(ServiceProcess(run_dir / "dsr", "services.dsr", dsr_env(
            infra, dsr_port, {"consent": consent_port, "keyvault": keyvault_port, "audit": audit_port}),
            dsr_port).start())

        endpoints = {
            "consent": f"localhost:{consent_port}", "keyvault": f"localhost:{keyvault_port}",
            "audit": f"localhost:{audit_port}", "dsr": f"localhost:{dsr_port}",
            "postgres": f"127.0.0.1:{pg.port}", "kafka": kafka.bootstrap_servers, "vault": bao.address,
            "ca": str(ca.ca.cert), "clients": {n: {"cert": str(f.cert), "key": str(f.key)} for n, f in clients.items()},
        }
        (run_dir / "endpoints.json").write_text(json.dumps(endpoints, indent=2))
        from services.cli.seed import seed_demo_consents, seed_demo_purpose
        asyncio.run(seed_demo_purpose(endpoints, DEMO_PURPOSE))
        asyncio.run(seed_demo_consents(endpoints, DEMO_PURPOSE, DEMO_SUBJECTS))
        gate_env = face_gate_env(infra, {"consent": consent_port, "keyvault": keyvault_port, "dsr": dsr_port})
        private_file(run_dir / "face-gate.env", "".join(f"{k}='{v}'\n" for k, v in gate_env.items()))
        stack.enter_context(FaceGateProcess(run_dir / "face-gate", gate_env).start())
        _print_banner(endpoints, root_token, run_dir)
        if ready_file:
            ready_file.write_text("ready")
        while not stop.wait(0.5):  # a bare wait() would not let the signal handler run
            pass
        print("\nstopping ...", flush=True)
    print("stopped; nothing left running.", flush=True)


def _stop_on_signals():
    import threading
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def _print_banner(e: dict, root_token: Path, run_dir: Path) -> None:
    print(f"""
Consentry is running (Ctrl-C stops everything).

  consent   gRPC+mTLS  {e['consent']}   (clients: admin, demo-gate; certificates under {Path(e['ca']).parent})
  keyvault  gRPC+mTLS  {e['keyvault']}
  audit     gRPC+mTLS  {e['audit']}   (client: dpo)
  dsr       gRPC+mTLS  {e['dsr']}   (client: admin)
  postgres             {e['postgres']}   (a role and password per service; superuser password in {run_dir}/postgres)
  kafka     TLS+mTLS   {e['kafka']}     (Tansu behind stunnel; a certificate per service and processor)
  openbao              {e['vault']}     (root token in {root_token}, readable by you only)

Try, in another terminal (.venv/bin/consentry, or `source .venv/bin/activate`):

  consentry consent check    --subject alice --purpose {DEMO_PURPOSE}
  consentry consent grant    --subject alice --purpose {DEMO_PURPOSE} --age 30
  consentry consent check    --subject alice --purpose {DEMO_PURPOSE}
  consentry consent history  --subject alice --purpose {DEMO_PURPOSE}
  consentry keyvault datakey --subject alice --purpose {DEMO_PURPOSE}   # a data key, released after the check
  consentry consent withdraw --subject alice --purpose {DEMO_PURPOSE}
  consentry keyvault datakey --subject alice --purpose {DEMO_PURPOSE}   # refused: consent withdrawn
  consentry audit export     --subject alice --out alice.jsonl          # her entries, with proofs
  consentry audit public-key > audit.pem
  consentry audit verify     alice.jsonl --public-key audit.pem         # offline: nothing but the key
  consentry keyvault shred   --subject alice                            # crypto-shredding, signed certificate
  consentry audit export     --subject alice --out after.jsonl          # nothing points to her any more
  consentry audit completeness                                          # per producer: complete up to N
  consentry dsr submit --type access --subject bob --jurisdiction CN    # then: dsr verify ID, dsr show ID
  consentry dsr list                                                    # overdue first

The reference face gate (examples/face_gate, a dsr processor) enrolled {', '.join(DEMO_SUBJECTS)} at start:

  env $(cat {run_dir}/face-gate.env | xargs) .venv/bin/python -m examples.face_gate show --subject demo-mei
  consentry dsr submit --type deletion --subject demo-mei               # then dsr verify ID; dsr show ID
  consentry consent grant    --subject bob --purpose {DEMO_PURPOSE} --age 9     # refused: guardian needed
""", flush=True)
