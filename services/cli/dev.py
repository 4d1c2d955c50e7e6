"""`consentry dev up`: the whole platform on embedded components, in the foreground, until Ctrl-C.

Everything lives under one run directory; endpoints.json there tells the client commands where
the services listen and which certificates to use."""

import asyncio
import json
import os
import signal
import sys
from contextlib import ExitStack
from pathlib import Path

from services.common.devstack import OpenBaoProcess, PostgresProcess, TansuProcess, free_port
from services.common.devstack.process import ManagedProcess
from services.common.pki import DevCA

TOPICS = ["consent.events", "keyvault.events", "dsr.events", "dsr.tasks", "dsr.task-results", "audit.events"]
DEMO_PURPOSE = "demo-gate-access"
DEMO_SUBJECTS = ["demo-mei", "demo-tom"]
CONSENT = "consentry.consent.v1.ConsentService"
KEYVAULT = "consentry.keyvault.v1.KeyVaultService"
AUDIT = "consentry.audit.v1.AuditService"
DSR = "consentry.dsr.v1.DsrService"
AUDIT_DATABASE = "audit"
# Which client (certificate CN) may call which RPCs, for which purposes. One file serves every
# service: each only sees calls to its own RPCs.
POLICY = f"""[clients.admin]
rpcs = ["*"]
purposes = ["*"]

[clients.demo-gate]
rpcs = ["{CONSENT}/GetPurpose", "{CONSENT}/GrantConsent", "{CONSENT}/CheckConsent", "{CONSENT}/CheckConsents",
        "{CONSENT}/WithdrawConsent", "{CONSENT}/ListConsents", "{CONSENT}/GetConsentHistory",
        "{CONSENT}/RecordInteraction", "{CONSENT}/GetReceiptKey",
        "{KEYVAULT}/EnsureSubjectKey", "{KEYVAULT}/GenerateDataKey", "{KEYVAULT}/DecryptDataKey",
        "{KEYVAULT}/Encrypt", "{KEYVAULT}/Decrypt", "{KEYVAULT}/GetKeyStatus", "{AUDIT}/Append",
        "{DSR}/RegisterProcessor"]
purposes = ["{DEMO_PURPOSE}"]

[clients.keyvault]
rpcs = ["{CONSENT}/CheckConsent", "{CONSENT}/CheckConsents"]
purposes = ["*"]

[clients.audit]
rpcs = ["{KEYVAULT}/GetSubjectRefs"]
purposes = []

[clients.dsr]
rpcs = ["{CONSENT}/EraseSubject", "{CONSENT}/ListConsents", "{CONSENT}/GetConsentHistory",
        "{KEYVAULT}/ShredSubjectKey", "{KEYVAULT}/GetKeyStatus", "{AUDIT}/QueryEvents"]
purposes = ["*"]

[clients.dpo]
rpcs = ["{AUDIT}/GetCheckpoint", "{AUDIT}/GetPublicKey", "{AUDIT}/GetInclusionProof", "{AUDIT}/GetConsistencyProof",
        "{AUDIT}/QueryEvents", "{AUDIT}/ExportEvents", "{AUDIT}/VerifyLog", "{AUDIT}/GetCompleteness"]
purposes = []
"""


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


def _service_env(prefix: str, database: str, pg: PostgresProcess, kafka: TansuProcess, ca: DevCA, policy: Path,
                 port: int) -> dict[str, str]:
    server = ca.issue_server()
    return {
        f"{prefix}DATABASE_URL": pg.dsn(database),
        f"{prefix}KAFKA__BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        f"{prefix}GRPC__LISTEN": f"127.0.0.1:{port}",
        f"{prefix}GRPC__TLS_CERT": str(server.cert),
        f"{prefix}GRPC__TLS_KEY": str(server.key),
        f"{prefix}GRPC__TLS_CLIENT_CA": str(ca.ca.cert),
        f"{prefix}GRPC__POLICY_FILE": str(policy),
    }


def consent_env(pg: PostgresProcess, kafka: TansuProcess, ca: DevCA, policy: Path, port: int) -> dict[str, str]:
    return {**_service_env("CONSENTRY_CONSENT_", "consent", pg, kafka, ca, policy, port),
            "CONSENTRY_CONSENT_EXPIRY_INTERVAL_S": "30"}


def keyvault_env(pg: PostgresProcess, kafka: TansuProcess, bao: OpenBaoProcess, ca: DevCA, policy: Path, port: int,
                 consent_port: int) -> dict[str, str]:
    from services.keyvault.provision import provision
    client = ca.issue_client("keyvault")
    prefix = "CONSENTRY_KEYVAULT_"
    return {**_service_env(prefix, "keyvault", pg, kafka, ca, policy, port),
            f"{prefix}CONSENT_ADDRESS": f"localhost:{consent_port}", f"{prefix}CONSENT_TLS_CA": str(ca.ca.cert),
            f"{prefix}CONSENT_TLS_CERT": str(client.cert), f"{prefix}CONSENT_TLS_KEY": str(client.key),
            f"{prefix}VAULT_ADDRESS": bao.address, f"{prefix}VAULT_TOKEN": provision(bao.client())}


def audit_env(pg: PostgresProcess, kafka: TansuProcess, bao: OpenBaoProcess, ca: DevCA, policy: Path, port: int,
              keyvault_port: int) -> dict[str, str]:
    """Provisions the audit database (owner and service roles) and the checkpoint key in OpenBao."""
    from services.audit.provision import provision_database, provision_vault
    asyncio.run(provision_database(pg.dsn(), AUDIT_DATABASE))
    client = ca.issue_client("audit")
    prefix = "CONSENTRY_AUDIT_"
    env = _service_env(prefix, AUDIT_DATABASE, pg, kafka, ca, policy, port)
    return {**env, f"{prefix}DATABASE_URL": pg.dsn(AUDIT_DATABASE).replace("postgres@", "consentry_audit@"),
            f"{prefix}OWNER_DATABASE_URL": pg.dsn(AUDIT_DATABASE).replace("postgres@", "consentry_audit_owner@"),
            f"{prefix}KEYVAULT_ADDRESS": f"localhost:{keyvault_port}", f"{prefix}KEYVAULT_TLS_CA": str(ca.ca.cert),
            f"{prefix}KEYVAULT_TLS_CERT": str(client.cert), f"{prefix}KEYVAULT_TLS_KEY": str(client.key),
            f"{prefix}VAULT_ADDRESS": bao.address, f"{prefix}VAULT_TOKEN": provision_vault(bao.client())}


def dsr_env(pg: PostgresProcess, kafka: TansuProcess, ca: DevCA, policy: Path, port: int,
            ports: dict[str, int]) -> dict[str, str]:
    client = ca.issue_client("dsr")
    prefix = "CONSENTRY_DSR_"
    return {**_service_env(prefix, "dsr", pg, kafka, ca, policy, port),
            **{f"{prefix}{name.upper()}_ADDRESS": f"localhost:{p}" for name, p in ports.items()},
            f"{prefix}TLS_CA": str(ca.ca.cert), f"{prefix}TLS_CERT": str(client.cert),
            f"{prefix}TLS_KEY": str(client.key)}


def face_gate_env(pg: PostgresProcess, kafka: TansuProcess, ca: DevCA, ports: dict[str, int]) -> dict[str, str]:
    """The reference face system, as the demo-gate client (its certificate and policy entry)."""
    pg.create_database("face_gate")
    client = ca.issue_client("demo-gate")
    return {"FACE_GATE_NAME": "demo-gate", "FACE_GATE_DATABASE_URL": pg.dsn("face_gate"),
            "FACE_GATE_KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
            **{f"FACE_GATE_{name.upper()}_ADDRESS": f"localhost:{p}" for name, p in ports.items()},
            "FACE_GATE_TLS_CA": str(ca.ca.cert), "FACE_GATE_TLS_CERT": str(client.cert),
            "FACE_GATE_TLS_KEY": str(client.key), "FACE_GATE_PURPOSES": json.dumps([DEMO_PURPOSE]),
            "FACE_GATE_DEMO_SUBJECTS": json.dumps(DEMO_SUBJECTS)}


def up(run_dir: Path, *, ready_file: Path | None = None) -> None:
    # Absolute: each process runs in its own folder, and the paths in its settings must still hold.
    run_dir = run_dir.resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    stop = _stop_on_signals()
    with ExitStack() as stack:
        print("starting PostgreSQL, Tansu (Kafka protocol) and OpenBao ...", flush=True)
        pg = stack.enter_context(PostgresProcess(run_dir / "postgres").start())
        kafka = stack.enter_context(TansuProcess(run_dir / "kafka").start())
        bao = stack.enter_context(OpenBaoProcess(run_dir / "openbao").start())
        for database in ("consent", "keyvault", "dsr"):
            pg.create_database(database)
        kafka.create_topics(TOPICS)

        ca = DevCA(run_dir / "pki")
        policy = run_dir / "policy.toml"
        policy.write_text(POLICY)
        clients = {name: ca.issue_client(name) for name in ("admin", "demo-gate", "dpo")}
        consent_port, keyvault_port, audit_port, dsr_port = free_port(), free_port(), free_port(), free_port()
        stack.enter_context(ServiceProcess(run_dir / "consent", "services.consent",
                                           consent_env(pg, kafka, ca, policy, consent_port), consent_port).start())
        stack.enter_context(ServiceProcess(
            run_dir / "keyvault", "services.keyvault",
            keyvault_env(pg, kafka, bao, ca, policy, keyvault_port, consent_port), keyvault_port).start())
        stack.enter_context(ServiceProcess(
            run_dir / "audit", "services.audit",
            audit_env(pg, kafka, bao, ca, policy, audit_port, keyvault_port), audit_port).start())
        stack.enter_context(ServiceProcess(run_dir / "dsr", "services.dsr", dsr_env(
            pg, kafka, ca, policy, dsr_port, {"consent": consent_port, "keyvault": keyvault_port, "audit": audit_port}),
            dsr_port).start())

        endpoints = {
            "consent": f"localhost:{consent_port}", "keyvault": f"localhost:{keyvault_port}",
            "audit": f"localhost:{audit_port}", "dsr": f"localhost:{dsr_port}", "postgres": pg.dsn(), "kafka": kafka.bootstrap_servers,
            "vault": bao.address, "vault_token": bao.root_token, "ca": str(ca.ca.cert),
            "clients": {n: {"cert": str(f.cert), "key": str(f.key)} for n, f in clients.items()},
        }
        (run_dir / "endpoints.json").write_text(json.dumps(endpoints, indent=2))
        from services.cli.seed import seed_demo_consents, seed_demo_purpose
        asyncio.run(seed_demo_purpose(endpoints, DEMO_PURPOSE))
        asyncio.run(seed_demo_consents(endpoints, DEMO_PURPOSE, DEMO_SUBJECTS))
        gate_env = face_gate_env(pg, kafka, ca, {"consent": consent_port, "keyvault": keyvault_port, "dsr": dsr_port})
        (run_dir / "face-gate.env").write_text("".join(f"{k}='{v}'\n" for k, v in gate_env.items()))
        stack.enter_context(FaceGateProcess(run_dir / "face-gate", gate_env).start())
        _print_banner(endpoints)
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


def _print_banner(e: dict) -> None:
    print(f"""
Consentry is running (Ctrl-C stops everything).

  consent   gRPC+mTLS  {e['consent']}   (clients: admin, demo-gate; certificates under {Path(e['ca']).parent})
  keyvault  gRPC+mTLS  {e['keyvault']}
  audit     gRPC+mTLS  {e['audit']}   (client: dpo)
  dsr       gRPC+mTLS  {e['dsr']}   (client: admin)
  postgres             {e['postgres']}
  kafka                {e['kafka']}     (Tansu; topics: {', '.join(TOPICS)})
  openbao              {e['vault']}     (dev root token: {e['vault_token']})

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

  env $(cat {Path(e['ca']).parent.parent}/face-gate.env | xargs) .venv/bin/python -m examples.face_gate show --subject demo-mei
  consentry dsr submit --type deletion --subject demo-mei               # then dsr verify ID; dsr show ID
  consentry consent grant    --subject bob --purpose {DEMO_PURPOSE} --age 9     # refused: guardian needed
""", flush=True)
