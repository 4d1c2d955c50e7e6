"""The processes of the dsr section: the platform as `consentry dev up` runs it (the dev platform's own
helpers, bench/common/platform.py),
with two reference face gates as processors, started when the section begins.

Its own PostgreSQL, Tansu and OpenBao: the dev configuration uses the dev topic and database names
(consent.events, keyvault.events; databases consent, keyvault, audit), which the other sections'
processes use on the shared broker and PostgreSQL. The dsr service reads consent.events and the audit
service every *.events topic, so on the shared broker they would take in the earlier sections' hundreds
of thousands of events (the consent seeding, the keyvault's bulk rounds) while the deletions are
timed. Everything is stopped with the rest of the run (`Stack.on_exit`).

As dev up sets it up: a CA of the stack's own, PostgreSQL with a role and password per service and
per gate, Tansu behind its TLS front (a certificate per service and per gate), a random OpenBao root
token. Each gate is a client of its own: its certificate's name is its processor name, for the
services and the broker alike, and the policy grants it what dev up grants its one gate. With
`tls=False` the same stack runs on a plaintext Tansu (services with security_protocol PLAINTEXT, the
gates through bench/dsr/plain_gate.py): the plaintext side of the Kafka comparison.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import statements
from bench.common.load import Target
from bench.common.platform import (
    AUDIT_DATABASE,
    DEMO_PURPOSE,
    POLICY,
    TOPICS,
    DevStack,
    FaceGateProcess,
    ManagedProcess,
    OpenBaoProcess,
    PostgresProcess,
    TansuProcess,
    audit_env,
    broker_tls,
    consent_env,
    dev_grant,
    dsr_env,
    face_gate_env,
    free_port,
    keyvault_env,
)
from bench.common.processes import GrpcServerProcess, child_env
from bench.common.stack import Stack, service_env
from services.common.pki import DevCA

PURPOSE = DEMO_PURPOSE  # the purpose the dev platform registers and its gates hold
GATES = ("face-gate-a", "face-gate-b")  # FACE_GATE_NAME and certificate name: the processor names
DEV_GATE = "demo-gate"  # dev up's one gate: each of ours is granted what it is
OUTBOX_DATABASES = ("consent", "keyvault", "dsr")  # the producers the audit service reads
SETTLE_TIMEOUT_S = 900.0
Tls = tuple[Path, Path, Path]  # (CA, client certificate, client key)


class BenchFaceGate(FaceGateProcess):
    """The dev stack's face gate process, with the benchmark's child environment: the repository on the
    path and no FACE_GATE_* or CONSENTRY_* setting of the developer's leaking in. `plaintext`: the same
    gate on a plaintext broker (bench/dsr/plain_gate.py)."""

    def __init__(self, run_dir: Path, env: dict[str, str], plaintext: bool = False) -> None:
        super().__init__(run_dir, env)
        self.plaintext = plaintext

    def command(self) -> list[str]:
        return [sys.executable, "-m", "bench.dsr.plain_gate" if self.plaintext else "examples.face_gate", "serve"]

    def popen_kwargs(self) -> dict[str, Any]:
        inherited = {k: v for k, v in child_env({}).items() if not k.startswith("FACE_GATE_")}
        return {"env": {**inherited, **self._env}}


@dataclass
class DsrStack:
    pg: PostgresProcess
    kafka: TansuProcess
    bao: OpenBaoProcess
    servers: dict[str, GrpcServerProcess]  # consent, keyvault, audit, dsr
    gates: dict[str, BenchFaceGate]  # processor name -> process
    gate_dsns: dict[str, str]  # processor name -> its database, as its own role
    gate_tls: dict[str, Tls]  # processor name -> its certificate (the services' and the broker's client)
    admin: Tls  # the operator (dev policy: client "admin", every RPC)
    pids: dict[str, int]  # role -> pid, for CPU accounting
    tls: bool  # Kafka over the TLS front with client certificates; False: plaintext
    dev: DevStack  # the dev platform's view of it, to configure one more service (the portal) as dev up does

    def target(self, service: str) -> Target:
        return Target(self.servers[service].port, self.admin)

    def stop(self) -> None:
        """Every process of the stack, the gates first (also registered with the run's clean-up)."""
        processes: list[ManagedProcess] = [*self.gates.values(), *reversed(self.servers.values()), self.bao,
                                           self.kafka, self.pg]
        for proc in processes:
            proc.stop()


def _tls(ca: DevCA, client: str) -> Tls:
    files = ca.issue_client(client)
    return ca.ca.cert, files.cert, files.key


def policy() -> str:
    """dev up's policy, plus each of our gates as a client granted what dev up grants its own gate."""
    grant = dev_grant(DEV_GATE)
    assert grant is not None
    return POLICY + "".join(f'\n[clients."{gate}"]\ncontroller = {json.dumps(grant["controller"])}\n'
                            f'rpcs = {json.dumps(grant["rpcs"])}\n'
                            f'purposes = {json.dumps(grant["purposes"])}\n' for gate in GATES)


def start(s: Stack, tls: bool = True, name: str = "dsr-stack") -> DsrStack:
    """Starts the stack in dev up's order; each process is stopped with the run."""
    run_dir = s.run_dir / name
    label = "dsr" if tls else "dsr (plaintext Kafka)"
    print(f"{label}: starting its PostgreSQL, Tansu{' and its TLS front' if tls else ''} and OpenBao ...", flush=True)
    ca = DevCA(run_dir / "pki")
    pg, kafka, bao = (PostgresProcess(run_dir / "postgres", settings=statements.SETTINGS if s.profile_dir else None),
                      TansuProcess(run_dir / "kafka", tls=broker_tls(ca) if tls else None),
                      OpenBaoProcess(run_dir / "openbao"))
    for infra in (pg, kafka, bao):
        s.on_exit(infra.stop)
        infra.start()
    kafka.create_topics(TOPICS)
    policy_file = run_dir / "policy.toml"
    policy_file.write_text(policy())
    dev = DevStack(run_dir, pg, kafka, bao, ca, policy_file)

    admin = _tls(ca, "admin")
    ports = {service: free_port() for service in ("consent", "keyvault", "audit", "dsr")}
    envs = {
        "consent": lambda: consent_env(dev, ports["consent"]),
        "keyvault": lambda: {**keyvault_env(dev, ports["keyvault"], ports["consent"]),
                             "CONSENTRY_KEYVAULT_BACKEND": "wrapped"},
        "audit": lambda: audit_env(dev, ports["audit"], {n: ports[n] for n in ("keyvault", "consent", "dsr")}),
        "dsr": lambda: dsr_env(dev, ports["dsr"], {n: ports[n] for n in ("consent", "keyvault", "audit")}),
    }
    servers: dict[str, GrpcServerProcess] = {}
    for service, make_env in envs.items():  # dependencies first, as dev up starts them
        env = service_env(service, make_env(), s.event_loop)
        print(f"{label}: starting {service} ...", flush=True)
        proc = GrpcServerProcess(run_dir / service, service, [f"services.{service}"], admin, env, ports[service])
        s.on_exit(proc.stop)
        proc.start()
        servers[service] = proc

    gates = {gate: _start_gate(s, dev, gate, ports, label, plaintext=not tls) for gate in GATES}
    pids = {"gen": s.pids["gen"], "postgres": pg.pid, "tansu": kafka.pid,
            "stunnel": kafka.front.pid if kafka.front else None, "openbao": bao.pid,
            **{n: proc.pid for n, proc in servers.items()}, **{n: g.pid for n, (g, _, _) in gates.items()}}
    return DsrStack(pg, kafka, bao, servers, {n: g for n, (g, _, _) in gates.items()},
                    {n: dsn for n, (_, dsn, _) in gates.items()}, {n: files for n, (_, _, files) in gates.items()},
                    admin, {role: pid for role, pid in pids.items() if pid}, tls, dev)


def _start_gate(s: Stack, dev: DevStack, gate: str, ports: dict[str, int], label: str, plaintext: bool
                ) -> tuple[BenchFaceGate, str, Tls]:
    """A gate as dev up configures its gate, under its own name (certificate, database and role); the
    subjects are enrolled by the set-up, not at start. The process, its database, its certificate."""
    env = {**face_gate_env(dev, {n: ports[n] for n in ("consent", "keyvault", "dsr")}, name=gate),
           "FACE_GATE_DEMO_SUBJECTS": json.dumps([])}
    print(f"{label}: starting {gate} ...", flush=True)
    proc = BenchFaceGate(dev.run_dir / gate, env, plaintext=plaintext)
    s.on_exit(proc.stop)
    proc.start()
    return proc, env["FACE_GATE_DATABASE_URL"], (dev.ca.ca.cert, Path(env["FACE_GATE_TLS_CERT"]),
                                                 Path(env["FACE_GATE_TLS_KEY"]))


def server_roles(tls: bool = True) -> str:
    """Every process that serves a deletion, joined by "+" as `report.server_roles` reads them."""
    broker = ("tansu", "stunnel") if tls else ("tansu",)
    return "+".join(("dsr", "consent", "keyvault", "audit", *GATES, "postgres", *broker, "openbao"))


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
