"""The processes every section shares, started once per run: PostgreSQL, Tansu behind its TLS front,
OpenBao, the consent service (the keyvault's releases go through it) and the load-generator
process; the keyvault backends when the first section that needs them begins (`start_keyvault`).
A section starts what only it needs (echo baselines, audit processes, a whole dsr platform) with
`Stack.on_exit`, so everything is stopped on the way out, error or not.

The infrastructure and the services are set up as `consentry dev up` sets them up, with the dev
platform's own helpers (bench/common/platform.py): PostgreSQL with a role and password per service,
Tansu admitting only certificates from the run's CA (each service presents its own), signing keys in
files, each service's settings as the dev platform writes them.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import signal
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from multiprocessing.pool import Pool
from pathlib import Path
from typing import Any

from bench.common.consents import CONTROLLER
from bench.common.load import KafkaClient, Vault, worker_pid
from bench.common.platform import (
    CONSENT,
    CONSENT_ADMIN,
    KEYVAULT,
    KEYVAULT_ADMIN,
    DevStack,
    MeteredOpenBao,
    PostgresProcess,
    TansuProcess,
    broker_tls,
    consent_env,
    dev_grant,
    free_port,
    keyvault_env,
)
from bench.common.processes import KEYVAULT_BACKENDS, GrpcServerProcess, keyvault_database, keyvault_role, keyvault_server
from services.common.pki import DevCA
from services.consent.settings import ConsentSettings
from services.keyvault.domain.kek import kek_name
from services.keyvault.provision import provision

SETTLE_TIMEOUT_S = 600.0  # a 100,000-key bulk round leaves as many events for the relay
# The keyvault's grant on the consent service and the audit service's on the keyvault, as the dev
# platform writes them, so that the benchmark follows the services when a grant changes.
KEYVAULT_GRANT = dev_grant("keyvault") or {"rpcs": [], "purposes": []}
AUDIT_GRANT = dev_grant("audit") or {"rpcs": ["consentry.keyvault.v1.KeyVaultService/GetSubjectRefs"]}
# One file for every service (each sees only calls to its own RPCs): the benchmark client may call
# everything, the admin services (which "*" does not reach) by name; the keyvault, as the consent service's client, and the audit service, as the
# keyvault's, what the dev platform allows them.
POLICY = f"""[clients."bench"]
operator = true
rpcs = ["*", "{CONSENT_ADMIN}/*", "{KEYVAULT_ADMIN}/*"]
purposes = ["*"]

# A face system of the benchmark's controller (the edge section's gates).
[clients."bench-gate"]
controller = "{CONTROLLER.controller_id}"
rpcs = ["{CONSENT}/CheckConsent", "{CONSENT}/WatchConsents", "{KEYVAULT}/GenerateDataKey", "{KEYVAULT}/DecryptDataKey",
        "{KEYVAULT}/WatchKeys", "{KEYVAULT}/RecordReleases"]
purposes = ["*"]

[clients."keyvault"]
operator = true
rpcs = {json.dumps(KEYVAULT_GRANT["rpcs"])}
purposes = {json.dumps(KEYVAULT_GRANT["purposes"])}

[clients."audit"]
operator = true
rpcs = {json.dumps(AUDIT_GRANT["rpcs"])}
purposes = {json.dumps(AUDIT_GRANT.get("purposes", []))}
"""


@dataclass
class Stack:
    pg: PostgresProcess
    kafka: TansuProcess  # behind its TLS front: clients need a certificate of `ca`
    consent: GrpcServerProcess
    gen: Pool
    pids: dict[str, int]  # role -> pid: every process whose CPU a round reports
    run_dir: Path
    ca: DevCA
    server_tls: tuple[Path, Path, Path]  # a server's (cert, key, client CA), for the servers a section starts
    client_tls: tuple[Path, Path, Path]  # the benchmark client's (CA, cert, key)
    policy: Path
    # the dev platform's helpers on this run's PostgreSQL, broker, OpenBao and CA: a database with its
    # own role, signing key files, a service's settings as `consentry dev up` writes them
    dev: DevStack
    event_loop: str
    on_exit: Callable[[Callable[[], object]], object]  # registers a clean-up (last registered runs first)
    vault_metrics: Vault  # root token of the throw-away OpenBao: provisions, reads sys/metrics
    profile_dir: Path | None = None  # --profile: where the py-spy profiles go
    vault: Vault | None = None  # the wrapped backend's KEK and least-privilege token (raw transit rounds use it)
    keyvaults: dict[str, GrpcServerProcess] = field(default_factory=dict)  # backend -> server
    databases: list[str] = field(default_factory=lambda: ["consent"])  # whose outbox `settle` waits for


def stop_on_sigterm() -> None:
    # Turn SIGTERM into an exception so the `finally`/ExitStack clean-up runs as it does for Ctrl-C.
    def handler(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)


def bench_kafka(s: Stack) -> KafkaClient:
    """How the benchmark's own Kafka clients (producers, the naive consumer) reach the shared broker:
    as the client "bench", with its certificate. Picklable: the generator builds its clients from it."""
    files = s.ca.issue_client("bench")
    return KafkaClient(s.kafka.bootstrap_servers, (s.ca.ca.cert, files.cert, files.key))


def service_env(service: str, env: dict[str, str], event_loop: str) -> dict[str, str]:
    """A service's environment as the dev platform writes it, with the run's log level and event loop."""
    p = f"CONSENTRY_{service.upper()}_"
    return {**env, f"{p}TELEMETRY__LOG_LEVEL": "WARNING", f"{p}RUNTIME__EVENT_LOOP": event_loop}


@contextlib.contextmanager
def stack(run_dir: Path, event_loop: str, profile_dir: Path | None = None) -> Iterator[Stack]:
    with contextlib.ExitStack() as stop:
        print("starting PostgreSQL, Tansu (behind its TLS front) and OpenBao ...", flush=True)
        ca = DevCA(run_dir / "pki")
        pg = PostgresProcess(run_dir / "pg")
        kafka = TansuProcess(run_dir / "kafka", tls=broker_tls(ca))
        bao = MeteredOpenBao(run_dir / "openbao")  # consent reads the erasure key at start
        for infra in (pg, kafka, bao):
            stop.callback(infra.stop)
            infra.start()
        server, client = ca.issue_server(), ca.issue_client("bench")
        policy = run_dir / "policy.toml"
        policy.write_text(POLICY)
        dev = DevStack(run_dir, pg, kafka, bao, ca, policy)

        print("starting the consent service ...", flush=True)
        port = free_port()
        # The dev platform's 30 s expiry sweeps would run inside rounds; the benchmark measures the request path.
        env = {**consent_env(dev, port), "CONSENTRY_CONSENT_EXPIRY_INTERVAL_S": "3600"}
        client_tls = (ca.ca.cert, client.cert, client.key)
        consent = GrpcServerProcess(run_dir / "consent", "consent", ["services.consent"], client_tls,
                                    service_env("consent", env, event_loop), port)
        stop.callback(consent.stop)
        consent.start()

        # spawn, not fork: the generator must not inherit this process's gRPC threads. It ignores Ctrl-C:
        # this process handles it and terminates the generator.
        gen = multiprocessing.get_context("spawn").Pool(1, initializer=signal.signal,
                                                        initargs=(signal.SIGINT, signal.SIG_IGN))
        stop.callback(gen.join)
        stop.callback(gen.terminate)  # runs first: kills a generator that is still mid-round
        pids = {"gen": gen.apply(worker_pid), "consent": consent.pid, "postgres": pg.pid, "tansu": kafka.pid,
                "openbao": bao.pid, "stunnel": kafka.front.pid if kafka.front else None}
        yield Stack(pg, kafka, consent, gen, {k: v for k, v in pids.items() if v}, run_dir, ca,
                    (server.cert, server.key, ca.ca.cert), client_tls, policy, dev, event_loop, stop.callback,
                    Vault(bao.address, bao.root_token), profile_dir)


def start_keyvault(s: Stack, backends: Iterable[str] = KEYVAULT_BACKENDS) -> None:
    """One keyvault process per backend not yet running, as the dev platform configures the keyvault,
    with the backend's own database and least-privilege Vault token. Started only when a section
    needs them, so that the consent section runs without them (idle as they would be)."""
    wanted = [b for b in backends if b not in s.keyvaults]
    if wanted:
        print("starting the keyvault (" + ", ".join(wanted) + ") ...", flush=True)
    for backend in wanted:
        database, port = keyvault_database(backend), free_port()
        env = keyvault_env(s.dev, port, s.consent.port, database, controllers=(CONTROLLER.controller_id,))
        token = env["CONSENTRY_KEYVAULT_VAULT_TOKEN"]
        if backend != "wrapped":  # the dev platform provisions the wrapped backend
            token = env["CONSENTRY_KEYVAULT_VAULT_TOKEN"] = provision(s.vault_metrics.client(), backend=backend)
        else:
            # The raw transit baseline: the same token and the controller's own KEK.
            s.vault = Vault(s.vault_metrics.address, token, kek_name("consentry-kek", CONTROLLER.controller_id, ""))
        proc = keyvault_server(s.run_dir / keyvault_role(backend), backend, service_env("keyvault", env, s.event_loop),
                               s.client_tls, port)
        s.on_exit(proc.stop)
        proc.start()
        s.keyvaults[backend] = proc
        s.pids[keyvault_role(backend)] = proc.pid
        s.databases.append(database)


def settle(s: Stack) -> float:
    """Waits until every outbox relay has published every event, so that no round pays for the previous
    round's background work; returns the seconds waited."""
    began = time.monotonic()
    for database in s.databases:
        while s.pg.execute("SELECT count(*) FROM outbox WHERE published_at IS NULL", database=database):
            if time.monotonic() - began > SETTLE_TIMEOUT_S:
                raise RuntimeError(f"{database} outbox not drained after {SETTLE_TIMEOUT_S:.0f}s")
            time.sleep(0.2)
    return time.monotonic() - began


def consent_config(event_loop: str) -> dict[str, Any]:
    """The consent service's settings that shape its throughput (the benchmark leaves them at their defaults)."""
    fields = ConsentSettings.model_fields
    return {"pool_min_size": fields["pool_min_size"].default, "pool_max_size": fields["pool_max_size"].default,
            "transport": "mTLS", "log_level": "WARNING", "trace_exporter": "none", "expiry_interval_s": 3600,
            "event_loop": event_loop}
