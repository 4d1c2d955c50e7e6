"""`consentry dev up`: the whole platform on embedded components, in the foreground, until Ctrl-C.

Everything lives under one run directory, made anew at every start. Every secret (keys, passwords,
tokens, logs that may print one) is in a file only its owner can read. endpoints.json tells the
client commands where the services listen and which certificates to use; it holds no secret."""

import asyncio
import json
import os
import shutil
import signal
from contextlib import ExitStack
from pathlib import Path

from consentry_dev.launchers import OpenBaoProcess, PostgresProcess, TansuProcess, broker_tls, free_port
from consentry_dev.launchers.process import private_file
from consentry_dev.launchers.procfs import kill_tree, wait_gone
from consentry_dev.policy import DEMO_CONTROLLER, DEMO_PURPOSE, DEMO_SUBJECTS, POLICY
from consentry_dev.mail import Inbox
from consentry_dev.seed import (
    demo_address, seed_demo_consents, seed_demo_contacts, seed_demo_purpose, seed_demo_staff,
)
from consentry_dev.stack import (
    FaceGateProcess, ServiceProcess, Stack, audit_env, consent_env, dsr_env, face_gate_env, keyvault_env, portal_env,
)
from services.common.pki import DevCA
from services.provision.topics import provision_topics

RUN_DIR_MARK = ".consentry-dev"


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
        asyncio.run(provision_topics(kafka.client_settings()))
        policy = run_dir / "policy.toml"
        policy.write_text(POLICY)
        infra = Stack(run_dir, pg, kafka, bao, ca, policy)

        clients = {name: ca.issue_client(name) for name in ("admin", "demo-gate", "dpo")}
        consent_port, keyvault_port, audit_port, dsr_port = free_port(), free_port(), free_port(), free_port()
        portal_port, portal_http = free_port(), free_port()
        inbox = stack.enter_context(Inbox(run_dir / "mail"))
        stack.enter_context(ServiceProcess(run_dir / "consent", "services.consent", consent_env(infra, consent_port),
                                           consent_port).start())
        stack.enter_context(ServiceProcess(run_dir / "keyvault", "services.keyvault",
                                           keyvault_env(infra, keyvault_port, consent_port), keyvault_port).start())
        stack.enter_context(ServiceProcess(run_dir / "audit", "services.audit",
                                           audit_env(infra, audit_port, {"keyvault": keyvault_port, "consent": consent_port, "dsr": dsr_port}),
                                           audit_port).start())
        stack.enter_context(ServiceProcess(run_dir / "dsr", "services.dsr", dsr_env(
            infra, dsr_port, {"consent": consent_port, "keyvault": keyvault_port, "audit": audit_port,
                              "portal": portal_port}),
            dsr_port).start())
        stack.enter_context(ServiceProcess(run_dir / "portal", "services.portal", portal_env(
            infra, portal_port, portal_http, {"consent": consent_port, "dsr": dsr_port, "console__audit": audit_port},
            inbox.port), portal_port).start())

        endpoints = {
            "consent": f"localhost:{consent_port}", "keyvault": f"localhost:{keyvault_port}",
            "audit": f"localhost:{audit_port}", "dsr": f"localhost:{dsr_port}", "portal": f"localhost:{portal_port}",
            "portal_url": f"http://localhost:{portal_http}/{DEMO_CONTROLLER}/", "smtp": inbox.port,
            "console_url": f"http://localhost:{portal_http}/console/",
            "postgres": f"127.0.0.1:{pg.port}", "kafka": kafka.bootstrap_servers, "vault": bao.address,
            "ca": str(ca.ca.cert), "clients": {n: {"cert": str(f.cert), "key": str(f.key)} for n, f in clients.items()},
        }
        (run_dir / "endpoints.json").write_text(json.dumps(endpoints, indent=2))
        asyncio.run(seed_demo_purpose(endpoints, DEMO_PURPOSE))
        asyncio.run(seed_demo_consents(endpoints, DEMO_PURPOSE, DEMO_SUBJECTS))
        asyncio.run(seed_demo_contacts(endpoints, DEMO_SUBJECTS))
        private_file(run_dir / "console-accounts.json", json.dumps(asyncio.run(seed_demo_staff(endpoints)), indent=2))
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
  portal    gRPC+mTLS  {e['portal']}   (client: demo-gate asks sign-in links)
  portal    web        {e['portal_url']}   (zh-CN and en)
  console   web        {e['console_url']}   (the staff's: demo-dpo, demo-operator, demo-auditor)
  mail      SMTP       127.0.0.1:{e['smtp']}   (the portal's sign-in codes, saved under {run_dir}/mail)
  postgres             {e['postgres']}   (a role and password per service; superuser password in {run_dir}/postgres)
  kafka     TLS+mTLS   {e['kafka']}     (Tansu behind stunnel; a certificate per service and processor)
  openbao              {e['vault']}     (root token in {root_token}, readable by you only)

Try, in another terminal (.venv/bin/consentry, or `source .venv/bin/activate`):

  consentry consent check    --subject alice --purpose {DEMO_PURPOSE}
  consentry consent grant    --subject alice --purpose {DEMO_PURPOSE} --age 30 --alternative-offered
  consentry consent check    --subject alice --purpose {DEMO_PURPOSE}
  consentry consent history  --subject alice --purpose {DEMO_PURPOSE}
  consentry keyvault datakey --subject alice --purpose {DEMO_PURPOSE}   # a data key, released after the check
  consentry consent withdraw --subject alice --purpose {DEMO_PURPOSE}
  consentry keyvault datakey --subject alice --purpose {DEMO_PURPOSE}   # refused: CONSENT_WITHDRAWN
  consentry audit export     --subject alice --controller {DEMO_CONTROLLER} --out alice.jsonl   # her entries, with proofs
  consentry audit public-key > audit.pem
  consentry audit verify     alice.jsonl --public-key audit.pem --controller {DEMO_CONTROLLER}  # offline
  consentry dsr submit --type deletion --subject alice --controller {DEMO_CONTROLLER}   # prints its requestId
  consentry dsr verify REQUEST_ID --wait   # consent erases her, keyvault shreds her key (signed certificate)
  consentry consent check    --subject alice --purpose {DEMO_PURPOSE}   # DENY: SUBJECT_ERASED
  consentry audit export     --subject alice --controller {DEMO_CONTROLLER} --out after.jsonl   # nothing points to her
  consentry audit completeness                                          # per producer: complete up to N
  consentry dsr submit --type access --subject bob --jurisdiction CN --controller {DEMO_CONTROLLER}   # then dsr verify ID
  consentry dsr list                                                    # overdue first

The portal, as a person signed in to the demo gate's app reaches it (open the link in a browser):

  consentry portal link --subject demo-mei --language en
  # or sign in by e-mail code as {demo_address(DEMO_SUBJECTS[0])}: the code lands in {run_dir}/mail/

The console, signed in as the demo DPO (passwords and authenticator secrets in {run_dir}/console-accounts.json):

  .venv/bin/python -m consentry_dev.staff_code demo-dpo   # the password, and the code of the moment

The reference face gate (examples/face_gate, a dsr processor) enrolled {', '.join(DEMO_SUBJECTS)} at start:

  .venv/bin/python -m examples.face_gate --env-file {run_dir}/face-gate.env show --subject demo-mei
  consentry dsr submit --type deletion --subject demo-mei --controller {DEMO_CONTROLLER}   # then dsr verify ID
  consentry consent grant    --subject bob --purpose {DEMO_PURPOSE} --age 9 --alternative-offered   # refused: guardian needed
""", flush=True)
