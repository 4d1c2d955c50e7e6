"""The processes of one benchmark run, and the round machinery every section shares.

PostgreSQL, Tansu, the consent service and the load generator always run (the keyvault's releases
go through consent); the echo baselines only for the consent section; OpenBao and the keyvault only
for the sections that need them (keyvault, audit), started when the first of them begins; the audit
section starts its own audit processes. Everything is stopped on the way out, error or not.

The infrastructure is set up as `consentry dev up` sets it up (services/cli/dev.py, whose `Stack`
helpers the services' settings are built with): PostgreSQL with a role and password per service,
Tansu behind its TLS front admitting only certificates from the run's CA (each service presents its
own), signing keys in files.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import signal
import time
import tomllib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from multiprocessing.pool import Pool
from pathlib import Path
from typing import Any

from bench.consent_scenarios import CALL_TIMEOUT_S, run_round, worker_pid
from bench.keyvault_scenarios import Vault
from bench.load import KafkaClient
from bench.procs import (
    KEYVAULT_BACKENDS,
    GrpcServerProcess,
    MeteredOpenBao,
    echo_server,
    keyvault_database,
    keyvault_role,
    keyvault_server,
)
from bench.report import Scenario
from services.cli.dev import POLICY as DEV_POLICY
from services.cli.dev import Stack as DevStack
from services.cli.dev import erasure_env
from services.common.devstack import PostgresProcess, TansuProcess, broker_tls, free_port
from services.common.pki import DevCA

SETTLE_TIMEOUT_S = 600.0  # a 100,000-key bulk round leaves as many events for the relay
# The keyvault's grant on the consent service, exactly as the dev stack writes it (today: the checks,
# for any purpose), so that the benchmark follows the service when the grant changes.
_DEV_CLIENTS = tomllib.loads(DEV_POLICY)["clients"]
KEYVAULT_GRANT = _DEV_CLIENTS["keyvault"]
# The audit service's grant on the keyvault (subject references), as the dev stack writes it; where
# the dev stack has none, the one RPC the audit service calls.
AUDIT_GRANT = _DEV_CLIENTS.get("audit", {"rpcs": ["consentry.keyvault.v1.KeyVaultService/GetSubjectRefs"]})
# One file for both services (each sees only calls to its own RPCs): the benchmark client may call
# everything; the keyvault, as the consent service's client, and the audit service, as the
# keyvault's, what the dev stack allows them.
POLICY = f"""[clients."bench"]
rpcs = ["*"]
purposes = ["*"]

[clients."keyvault"]
rpcs = {json.dumps(KEYVAULT_GRANT["rpcs"])}
purposes = {json.dumps(KEYVAULT_GRANT["purposes"])}

[clients."audit"]
rpcs = {json.dumps(AUDIT_GRANT["rpcs"])}
purposes = {json.dumps(AUDIT_GRANT.get("purposes", []))}
"""


@dataclass
class Stack:
    pg: PostgresProcess
    kafka: TansuProcess  # behind its TLS front: clients need a certificate of `ca`
    consent: GrpcServerProcess
    gen: Pool
    pids: dict[str, int]
    # The keyvault backends named (default: every one), each started once,
    # when the first section that needs it begins.
    start_keyvault: Callable[..., None]
    run_dir: Path
    ca: DevCA
    server_tls: tuple[Path, Path, Path]  # the services' (cert, key, client CA)
    client_tls: tuple[Path, Path, Path]  # the benchmark client's (CA, cert, key)
    policy: Path
    # dev up's helpers on this run's PostgreSQL, broker and CA: a database with its own role, signing
    # key files, a service's Kafka settings with its own certificate. Its OpenBao is set when started.
    dev: DevStack
    event_loop: str
    on_exit: Callable[[Callable[[], object]], object]  # registers a clean-up (last registered runs first)
    echo_mtls: GrpcServerProcess | None = None
    echo_plain: GrpcServerProcess | None = None
    vault: Vault | None = None  # the wrapped backend's KEK and least-privilege token (raw transit rounds use it)
    vault_metrics: Vault | None = None  # root token of the throw-away OpenBao: reads sys/metrics
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


def _keyvault_env(dev: DevStack, database: str, port: int, server: Any, policy: Path, consent_port: int,
                  vault: Vault, event_loop: str) -> dict[str, str]:
    """As `services.cli.dev.keyvault_env` configures it (its own database role, its own certificate to
    the broker, the certificate signing key), with this backend's database and Vault token, plus the
    logging and loop settings of the run."""
    ca = dev.ca
    client = ca.issue_client("keyvault")
    p = "CONSENTRY_KEYVAULT_"
    return {
        f"{p}DATABASE_URL": dev.database(database, database),
        **dev.kafka_env(p, "keyvault"),
        f"{p}CERTIFICATE_SIGNING_KEY": str(dev.signing_key("certificates")),
        **erasure_env(p, dev, "keyvault"),
        f"{p}GRPC__LISTEN": f"127.0.0.1:{port}",
        f"{p}GRPC__TLS_CERT": str(server.cert),
        f"{p}GRPC__TLS_KEY": str(server.key),
        f"{p}GRPC__TLS_CLIENT_CA": str(ca.ca.cert),
        f"{p}GRPC__POLICY_FILE": str(policy),
        f"{p}CONSENT_ADDRESS": f"localhost:{consent_port}",
        f"{p}CONSENT_TLS_CA": str(ca.ca.cert),
        f"{p}CONSENT_TLS_CERT": str(client.cert),
        f"{p}CONSENT_TLS_KEY": str(client.key),
        f"{p}VAULT_ADDRESS": vault.address,
        f"{p}VAULT_TOKEN": vault.token,
        f"{p}KEK_NAME": vault.key_name,
        f"{p}TRANSIT_MOUNT": vault.mount,
        f"{p}TELEMETRY__LOG_LEVEL": "WARNING",
        f"{p}RUNTIME__EVENT_LOOP": event_loop,
    }


@contextlib.contextmanager
def stack(run_dir: Path, event_loop: str, sections: list[str]) -> Iterator[Stack]:
    """Starts the shared processes, and the echo baselines if the consent section runs; the keyvault
    section starts its own with `Stack.start_keyvault`."""
    with contextlib.ExitStack() as stop:
        print("starting PostgreSQL, Tansu (behind its TLS front) and OpenBao ...", flush=True)
        ca = DevCA(run_dir / "pki")
        pg = PostgresProcess(run_dir / "pg")
        stop.callback(pg.stop)
        pg.start()
        kafka = TansuProcess(run_dir / "kafka", tls=broker_tls(ca))
        stop.callback(kafka.stop)
        kafka.start()
        # Consent reads the erasure key at start; the keyvault and audit sections use it for transit.
        bao = MeteredOpenBao(run_dir / "openbao")
        stop.callback(bao.stop)
        bao.start()

        server, client = ca.issue_server(), ca.issue_client("bench")
        server_tls, client_tls = (server.cert, server.key, ca.ca.cert), (ca.ca.cert, client.cert, client.key)
        policy = run_dir / "policy.toml"
        policy.write_text(POLICY)
        dev = DevStack(run_dir, pg, kafka, bao, ca, policy)
        port = free_port()
        p = "CONSENTRY_CONSENT_"
        env = {
            f"{p}DATABASE_URL": dev.database("consent", "consent"),
            **dev.kafka_env(p, "consent"),
            f"{p}RECEIPT_SIGNING_KEY": str(dev.signing_key("receipts")),
            **erasure_env(p, dev, "consent"),
            "CONSENTRY_CONSENT_GRPC__LISTEN": f"127.0.0.1:{port}",
            "CONSENTRY_CONSENT_GRPC__TLS_CERT": str(server.cert),
            "CONSENTRY_CONSENT_GRPC__TLS_KEY": str(server.key),
            "CONSENTRY_CONSENT_GRPC__TLS_CLIENT_CA": str(ca.ca.cert),
            "CONSENTRY_CONSENT_GRPC__POLICY_FILE": str(policy),
            "CONSENTRY_CONSENT_TELEMETRY__LOG_LEVEL": "WARNING",
            # The 60 s default would run expiry sweeps inside rounds; the benchmark measures the request path.
            "CONSENTRY_CONSENT_EXPIRY_INTERVAL_S": "3600",
            "CONSENTRY_CONSENT_RUNTIME__EVENT_LOOP": event_loop,
        }
        print("starting the consent service" + (" and the echo baselines" if "consent" in sections else "") + " ...",
              flush=True)
        consent = GrpcServerProcess(run_dir / "consent", "consent", ["services.consent"], client_tls, env, port)
        servers = [consent]
        echo_mtls = echo_plain = None
        if "consent" in sections:
            echo_mtls = echo_server(run_dir / "echo-mtls", "echo-mtls", server_tls, client_tls, event_loop)
            echo_plain = echo_server(run_dir / "echo-insecure", "echo-insecure", None, None, event_loop)
            servers += [echo_mtls, echo_plain]
        for proc in servers:
            stop.callback(proc.stop)
            proc.start()

        # spawn, not fork: the generator must not inherit this process's gRPC threads. It ignores Ctrl-C:
        # this process handles it and terminates the generator.
        gen = multiprocessing.get_context("spawn").Pool(1, initializer=signal.signal,
                                                        initargs=(signal.SIGINT, signal.SIG_IGN))
        stop.callback(gen.join)
        stop.callback(gen.terminate)  # runs first: kills a generator that is still mid-round
        pids = {"gen": gen.apply(worker_pid), "consent": consent.pid, "postgres": pg.pid, "tansu": kafka.pid, "openbao": bao.pid,
                "stunnel": kafka.front.pid if kafka.front else None,
                "echo-mtls": echo_mtls.pid if echo_mtls else None,
                "echo-insecure": echo_plain.pid if echo_plain else None}

        def start_keyvault(backends: Iterable[str] | None = None) -> None:
            """Started only now, so that the consent section runs without them (idle as they would be)."""
            from services.keyvault.provision import provision

            wanted = [b for b in KEYVAULT_BACKENDS if b not in s.keyvaults and (backends is None or b in backends)]
            if not wanted:
                return
            print("starting the keyvault (" + ", ".join(wanted) + ") ...", flush=True)
            for backend in wanted:
                # The token the dev stack would give this backend: its policy only.
                vault = Vault(s.vault_metrics.address, provision(s.vault_metrics.client(), backend=backend))
                if backend == "wrapped":
                    s.vault = vault  # the raw transit baseline: the same key and token
                database = keyvault_database(backend)
                kv_port = free_port()
                env = _keyvault_env(s.dev, database, kv_port, server, policy, port, vault, event_loop)
                proc = keyvault_server(run_dir / keyvault_role(backend), backend, env, client_tls, kv_port)
                stop.callback(proc.stop)
                proc.start()
                s.keyvaults[backend] = proc
                s.pids[keyvault_role(backend)] = proc.pid
                s.databases.append(database)

        s = Stack(pg, kafka, consent, gen, {k: v for k, v in pids.items() if v}, start_keyvault, run_dir, ca,
                  server_tls, client_tls, policy, dev, event_loop, stop.callback, echo_mtls, echo_plain,
                  vault_metrics=Vault(bao.address, bao.root_token))
        yield s


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


Runner = Callable[[Any], dict[str, Any]]


def measure(s: Stack, spec: Any, runner: Runner = run_round, max_s: float | None = None) -> dict[str, Any]:
    """One round in the generator process, once the previous round's background work is done.
    `runner` is the generator's entry point for `spec`; `max_s` bounds a count-bounded round."""
    settle(s)
    spec = replace(spec, cpu_roots=s.pids)
    timeout = max_s if max_s is not None else spec.warmup_s + spec.duration_s + 2 * CALL_TIMEOUT_S + 30
    return s.gen.apply_async(runner, (spec,)).get(timeout=timeout)


def line(name: str, r: dict[str, Any]) -> str:
    errors = f"  errors {r['errors']}" if r["errors"] else ""
    return f"  {name:<42} {r['rps']:>9,.0f} rps  p50 {r['p50_ms']:7.2f} ms  p99 {r['p99_ms']:7.2f} ms{errors}"


Groups = list[tuple[Scenario, Any]]


def run_interleaved(s: Stack, groups: Groups, rounds: int, runner: Runner = run_round,
                    max_s: float | None = None, after_round: Callable[[Scenario, dict[str, Any]], str] | None = None) -> None:
    """Round i of every scenario runs back to back before round i+1 of any, so slow drifts in machine
    load hit baseline and service alike; pairs of rounds are then directly comparable."""
    for i in range(rounds):
        for scenario, spec in groups:
            spec_i = replace(spec, rng_seed=i, subject_prefix=f"{spec.subject_prefix}r{i}-")
            result = measure(s, spec_i, runner, max_s)
            scenario.rounds.append(result)
            extra = after_round(scenario, result) if after_round else ""
            print(line(f"{scenario.name} #{i + 1}", result) + extra, flush=True)
