"""The processes of the dsr section: the platform as `consentry dev up` runs it (services/cli/dev.py),
with two reference face gates as processors, started when the section begins.

Its own PostgreSQL, Tansu and OpenBao: the dev configuration uses the dev topic and database names
(consent.events, keyvault.events; databases consent, keyvault, audit), which the other sections'
processes use on the shared broker and PostgreSQL. The dsr service reads consent.events and the audit
service every *.events topic, so on the shared broker they would take in the earlier sections' hundreds
of thousands of events (the consent seeding, the keyvault's bulk rounds) while the deletions are
timed. Everything is stopped with the rest of the run (`Stack.on_exit`).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.consent_scenarios import Target
from bench.harness import Stack
from bench.procs import KEYVAULT_BACKENDS, GrpcServerProcess, _child_env
from services.cli.dev import (
    AUDIT_DATABASE,
    DEMO_PURPOSE,
    POLICY,
    TOPICS,
    FaceGateProcess,
    audit_env,
    consent_env,
    dsr_env,
    face_gate_env,
    keyvault_env,
)
from services.common.devstack import OpenBaoProcess, PostgresProcess, TansuProcess, free_port
from services.common.pki import DevCA

PURPOSE = DEMO_PURPOSE  # the purpose the dev stack registers (services/cli/seed.py) and its gates hold
GATES = ("face-gate-a", "face-gate-b")  # FACE_GATE_NAME: the processor names
OUTBOX_DATABASES = ("consent", "keyvault", "dsr")  # the producers the audit service reads
SETTLE_TIMEOUT_S = 900.0
Tls = tuple[Path, Path, Path]  # (CA, client certificate, client key)


class BenchFaceGate(FaceGateProcess):
    """The dev stack's face gate process, with the benchmark's child environment: the repository on the
    path and no FACE_GATE_* or CONSENTRY_* setting of the developer's leaking in."""

    def popen_kwargs(self) -> dict[str, Any]:
        inherited = {k: v for k, v in _child_env({}).items() if not k.startswith("FACE_GATE_")}
        return {"env": {**inherited, **self._env}}


@dataclass
class DsrStack:
    pg: PostgresProcess
    kafka: TansuProcess
    bao: OpenBaoProcess
    servers: dict[str, GrpcServerProcess]  # consent, keyvault, audit, dsr
    gates: dict[str, BenchFaceGate]  # processor name -> process
    gate_dsns: dict[str, str]  # processor name -> its database
    admin: Tls  # the operator (dev policy: client "admin", every RPC)
    gate_client: Tls  # what the gates present (dev policy: client "demo-gate")
    pids: dict[str, int]  # role -> pid, for CPU accounting

    def target(self, service: str) -> Target:
        return Target(self.servers[service].port, self.admin)

    def gate_address(self, service: str) -> str:
        return f"127.0.0.1:{self.servers[service].port}"


def _tls(ca: DevCA, client: str) -> Tls:
    files = ca.issue_client(client)
    return ca.ca.cert, files.cert, files.key


def start(s: Stack) -> DsrStack:
    """Starts the stack in dev up's order; each process is stopped with the run."""
    run_dir = s.run_dir / "dsr-stack"
    print("dsr: starting its PostgreSQL, Tansu and OpenBao ...", flush=True)
    pg, kafka, bao = (PostgresProcess(run_dir / "postgres"), TansuProcess(run_dir / "kafka"),
                      OpenBaoProcess(run_dir / "openbao"))
    for infra in (pg, kafka, bao):
        s.on_exit(infra.stop)
        infra.start()
    for database in OUTBOX_DATABASES:
        pg.create_database(database)
    kafka.create_topics(TOPICS)

    ca = DevCA(run_dir / "pki")
    policy = run_dir / "policy.toml"
    policy.write_text(POLICY)
    admin = _tls(ca, "admin")
    ports = {name: free_port() for name in ("consent", "keyvault", "audit", "dsr")}
    envs = {
        "consent": consent_env(pg, kafka, ca, policy, ports["consent"]),
        "keyvault": {**keyvault_env(pg, kafka, bao, ca, policy, ports["keyvault"], ports["consent"]),
                     **(KEYVAULT_BACKENDS["wrapped"] or {})},
        "audit": audit_env(pg, kafka, bao, ca, policy, ports["audit"], ports["keyvault"]),
        "dsr": dsr_env(pg, kafka, ca, policy, ports["dsr"],
                       {name: ports[name] for name in ("consent", "keyvault", "audit")}),
    }
    servers: dict[str, GrpcServerProcess] = {}
    for name, env in envs.items():  # dependencies first, as dev up starts them
        prefix = f"CONSENTRY_{name.upper()}_"
        env = {**env, f"{prefix}TELEMETRY__LOG_LEVEL": "WARNING", f"{prefix}RUNTIME__EVENT_LOOP": s.event_loop}
        print(f"dsr: starting {name} ...", flush=True)
        proc = GrpcServerProcess(run_dir / name, name, [f"services.{name}"], admin, env, ports[name])
        s.on_exit(proc.stop)
        proc.start()
        servers[name] = proc

    # One face gate env as dev up writes it (client "demo-gate", the demo purpose), then per gate its
    # own processor name and database; the subjects are enrolled by the set-up, not at start.
    base = face_gate_env(pg, kafka, ca, {name: ports[name] for name in ("consent", "keyvault", "dsr")})
    gate_client = (Path(base["FACE_GATE_TLS_CA"]), Path(base["FACE_GATE_TLS_CERT"]), Path(base["FACE_GATE_TLS_KEY"]))
    gates: dict[str, BenchFaceGate] = {}
    dsns: dict[str, str] = {}
    for name in GATES:
        database = name.replace("-", "_")
        pg.create_database(database)
        dsns[name] = pg.dsn(database)
        env = {**base, "FACE_GATE_NAME": name, "FACE_GATE_DATABASE_URL": dsns[name],
               "FACE_GATE_DEMO_SUBJECTS": json.dumps([])}
        print(f"dsr: starting {name} ...", flush=True)
        gate = BenchFaceGate(run_dir / name, env)
        s.on_exit(gate.stop)
        gate.start()
        gates[name] = gate
    pids = {"gen": s.pids["gen"], "postgres": pg.pid, "tansu": kafka.pid, "openbao": bao.pid,
            **{name: proc.pid for name, proc in servers.items()}, **{name: g.pid for name, g in gates.items()}}
    return DsrStack(pg, kafka, bao, servers, gates, dsns, admin, gate_client,
                    {role: pid for role, pid in pids.items() if pid})


def server_roles() -> str:
    """Every process that serves a deletion, joined by "+" as `report.server_roles` reads them."""
    return "+".join(("dsr", "consent", "keyvault", "audit", *GATES, "postgres", "tansu", "openbao"))


def settle(d: DsrStack) -> float:
    """Waits until every outbox is published and the audit log holds every published event, so that a
    round neither pays for the previous one's background work nor leaves it to the next; returns the
    seconds waited."""
    began = time.monotonic()
    while True:
        unpublished = published = 0
        for database in OUTBOX_DATABASES:
            unpublished += d.pg.execute("SELECT count(*) FROM outbox WHERE published_at IS NULL", database=database)
            published += d.pg.execute("SELECT count(*) FROM outbox WHERE published_at IS NOT NULL", database=database)
        logged = d.pg.execute("SELECT count(*) FROM entries", database=AUDIT_DATABASE)
        if not unpublished and logged >= published:
            return time.monotonic() - began
        if time.monotonic() - began > SETTLE_TIMEOUT_S:
            raise RuntimeError(f"dsr stack not settled after {SETTLE_TIMEOUT_S:.0f}s: {unpublished} events"
                               f" unpublished, {logged} of {published} published events in the audit log")
        time.sleep(0.5)
