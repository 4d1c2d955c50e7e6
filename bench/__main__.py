"""`python -m bench [--quick]`: start the stack, run every scenario, write results, print the table.

PostgreSQL, Tansu, the consent service and two echo baselines (mTLS and plaintext) run as separate
processes in a temporary run dir; the load generator is one more process. Everything is stopped on
the way out, error or not.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from multiprocessing.pool import Pool
from pathlib import Path
from typing import Any

import grpc

from bench import report
from bench.consent_scenarios import CALL_TIMEOUT_S, RoundSpec, run_round, setup_purpose, worker_pid
from bench.procs import GrpcServerProcess, echo_server
from bench.profiling import profiled
from bench.report import Goal, Scenario
from services.common.devstack import PostgresProcess, TansuProcess, free_port
from services.common.pki import DevCA
from services.consent.settings import ConsentSettings

RESULTS = Path(__file__).resolve().parent / "results"
SETTLE_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Config:
    rounds: int = 3
    duration_s: float = 5.0
    warmup_s: float = 1.5
    concurrency: int = 64
    batch_concurrency: int = 64
    batch_size: int = 100
    subjects: int = 10_000
    unknown_share: float = 0.1


QUICK = Config(rounds=2, duration_s=1.5, warmup_s=0.5, subjects=2_000)


@dataclass
class Stack:
    pg: PostgresProcess
    kafka: TansuProcess
    consent: GrpcServerProcess
    echo_mtls: GrpcServerProcess
    echo_plain: GrpcServerProcess
    gen: Pool
    pids: dict[str, int]


def _stop_on_sigterm() -> None:
    # Turn SIGTERM into an exception so the `finally`/ExitStack clean-up runs as it does for Ctrl-C.
    def handler(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)


@contextlib.contextmanager
def stack(run_dir: Path, event_loop: str) -> Iterator[Stack]:
    with contextlib.ExitStack() as stop:
        print("starting PostgreSQL and Tansu ...", flush=True)
        pg = PostgresProcess(run_dir / "pg")
        stop.callback(pg.stop)
        pg.start()
        kafka = TansuProcess(run_dir / "kafka")
        stop.callback(kafka.stop)
        kafka.start()
        pg.create_database("consent")

        ca = DevCA(run_dir / "pki")
        server, client = ca.issue_server(), ca.issue_client("bench")
        server_tls, client_tls = (server.cert, server.key, ca.ca.cert), (ca.ca.cert, client.cert, client.key)
        policy = run_dir / "policy.toml"
        policy.write_text('[clients."bench"]\nrpcs = ["*"]\npurposes = ["*"]\n')
        port = free_port()
        env = {
            "CONSENTRY_CONSENT_DATABASE_URL": pg.dsn("consent"),
            "CONSENTRY_CONSENT_KAFKA__BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
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
        print("starting the consent service and the echo baselines ...", flush=True)
        consent = GrpcServerProcess(run_dir / "consent", "consent", ["services.consent"], client_tls, env, port)
        echo_mtls = echo_server(run_dir / "echo-mtls", "echo-mtls", server_tls, client_tls, event_loop)
        echo_plain = echo_server(run_dir / "echo-insecure", "echo-insecure", None, None, event_loop)
        for proc in (consent, echo_mtls, echo_plain):
            stop.callback(proc.stop)
            proc.start()

        # spawn, not fork: the generator must not inherit this process's gRPC threads. It ignores Ctrl-C:
        # this process handles it and terminates the generator.
        gen = multiprocessing.get_context("spawn").Pool(1, initializer=signal.signal,
                                                        initargs=(signal.SIGINT, signal.SIG_IGN))
        stop.callback(gen.join)
        stop.callback(gen.terminate)  # runs first: kills a generator that is still mid-round
        pids = {"gen": gen.apply(worker_pid), "consent": consent.pid, "postgres": pg.pid, "tansu": kafka.pid,
                "echo-mtls": echo_mtls.pid, "echo-insecure": echo_plain.pid}
        yield Stack(pg, kafka, consent, echo_mtls, echo_plain, gen, {k: v for k, v in pids.items() if v})


def settle(s: Stack) -> float:
    """Waits until the outbox relay has published every event, so that no round pays for the previous
    round's background work; returns the seconds waited."""
    began = time.monotonic()
    while s.pg.execute("SELECT count(*) FROM outbox WHERE published_at IS NULL", database="consent"):
        if time.monotonic() - began > SETTLE_TIMEOUT_S:
            raise RuntimeError(f"outbox not drained after {SETTLE_TIMEOUT_S:.0f}s")
        time.sleep(0.2)
    return time.monotonic() - began


def measure(s: Stack, spec: RoundSpec) -> dict[str, Any]:
    """One round in the generator process, once the previous round's background work is done."""
    settle(s)
    spec = replace(spec, cpu_roots=s.pids)
    return s.gen.apply_async(run_round, (spec,)).get(timeout=spec.warmup_s + spec.duration_s + 2 * CALL_TIMEOUT_S + 30)


def _line(name: str, r: dict[str, Any]) -> str:
    errors = f"  errors {r['errors']}" if r["errors"] else ""
    return f"  {name:<34} {r['rps']:>9,.0f} rps  p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:7.2f} ms{errors}"


def run_interleaved(s: Stack, groups: list[tuple[Scenario, RoundSpec]], rounds: int) -> None:
    """Round i of every scenario runs back to back before round i+1 of any, so slow drifts in machine
    load hit baseline and service alike; pairs of rounds are then directly comparable."""
    for i in range(rounds):
        for scenario, spec in groups:
            spec_i = replace(spec, rng_seed=i, subject_prefix=f"{spec.subject_prefix}r{i}-")
            result = measure(s, spec_i)
            scenario.rounds.append(result)
            print(_line(f"{scenario.name} #{i + 1}", result), flush=True)


Groups = list[tuple[Scenario, RoundSpec]]


def seed(s: Stack, cfg: Config) -> dict[str, Any]:
    """Registers the purpose and grants consent to `cfg.subjects` subjects, one pass at full concurrency."""
    s.gen.apply(setup_purpose, (s.consent.target,))
    print(f"seeding {cfg.subjects:,} subjects with GrantConsent ({cfg.concurrency} in flight) ...", flush=True)
    result = measure(s, RoundSpec("seed", s.consent.target, concurrency=cfg.concurrency, duration_s=600,
                                  warmup_s=0, seeded_subjects=cfg.subjects))
    print(_line("seed GrantConsent (one pass)", result), flush=True)
    if result["errors"] or result["calls"] != cfg.subjects:
        raise RuntimeError(f"seeding failed: {result['calls']} of {cfg.subjects} granted, errors {result['errors']}")
    settle(s)
    s.pg.execute("VACUUM ANALYZE", database="consent")  # fresh statistics: the plan must not change mid-run
    return result


def plan(s: Stack, cfg: Config) -> list[tuple[str, Groups]]:
    """Per RPC, the echo baseline and the consent service (plus, for CheckConsent, plaintext echo)."""
    common = dict(concurrency=cfg.concurrency, duration_s=cfg.duration_s, warmup_s=cfg.warmup_s,
                  seeded_subjects=cfg.subjects, unknown_share=cfg.unknown_share)

    def pair(rpc: str, kind: str, n: int = 1, note: str = "", **goals: Any) -> Groups:
        spec = RoundSpec(kind, s.echo_mtls.target, **common)
        if n > 1:
            spec = replace(spec, batch_size=n, concurrency=cfg.batch_concurrency)
        echo = Scenario(f"{rpc} echo mTLS", rpc, "echo-mtls", decisions_per_call=n)
        consent = Scenario(f"{rpc} consent", rpc, "consent", echo.name, n, note=note, **goals)
        return [(echo, spec), (consent, replace(spec, target=s.consent.target))]

    check = pair("CheckConsent", "check", ratio_goals={"rps": Goal(">=", 0.8), "p99_ms": Goal("<=", 1.5)})
    plain = Scenario("CheckConsent echo plaintext", "CheckConsent", "echo-insecure", check[0][0].name,
                     note="reference: the same echo server without TLS")
    check.append((plain, replace(check[0][1], target=s.echo_plain.target)))
    return [
        ("CheckConsent", check),
        ("CheckConsents", pair("CheckConsents", "check_batch", cfg.batch_size,
                               goals={"decisions_per_s": Goal(">=", 20_000)})),
        ("GrantConsent", pair("GrantConsent", "grant", note="a new subject per call",
                              goals={"rps": Goal(">=", 1_000)})),
    ]


def run_all(s: Stack, cfg: Config) -> tuple[Groups, dict[str, Any]]:
    seeded = seed(s, cfg)
    groups: Groups = []
    for title, group in plan(s, cfg):
        print(f"{title}: {cfg.rounds} rounds of {cfg.warmup_s:g}s warm-up + {cfg.duration_s:g}s", flush=True)
        run_interleaved(s, group, cfg.rounds)
        groups += group
    return groups, {"seed": seeded}


def profile_servers(s: Stack, groups: Groups, folder: Path) -> list[dict[str, Any]]:
    """One extra round per consent scenario with py-spy attached to the consent server, and one of the
    CheckConsent echo baseline, to tell gRPC's own share from the service's."""
    found = []
    for scenario, spec in groups:
        if scenario.server != "consent" and scenario.name != "CheckConsent echo mTLS":
            continue
        settle(s)
        out = folder / f"{scenario.name.replace(' ', '-')}.collapsed"
        spec = replace(spec, subject_prefix="grant-profiled-")
        print(f"profiling the server during {scenario.name} ...", flush=True)
        result, summary = profiled(s.pids[scenario.server], spec.warmup_s + spec.duration_s + 1, out,
                                   lambda spec=spec: measure(s, spec))
        print(_line(f"{scenario.name} (profiled)", result), flush=True)
        print(summary.split("own time by function:")[0], flush=True)  # the rest is in the .txt file
        found.append({"name": scenario.name, "round": result, "collapsed": str(out),
                      "summary": str(out.with_suffix(".txt"))})
    return found


def consent_config() -> dict[str, Any]:
    """The service settings that shape its throughput (the benchmark leaves them at their defaults)."""
    fields = ConsentSettings.model_fields
    return {"pool_min_size": fields["pool_min_size"].default, "pool_max_size": fields["pool_max_size"].default,
            "transport": "mTLS", "log_level": "WARNING", "trace_exporter": "none", "expiry_interval_s": 3600}


def source_info() -> dict[str, Any]:
    """Which code was measured: the commit, and the files that differ from it."""
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=RESULTS.parent.parent, capture_output=True, text=True, timeout=10)
        return done.stdout if done.returncode == 0 else ""

    try:
        changed = git("status", "--porcelain", "--", "services", "proto", "pyproject.toml").splitlines()
        return {"commit": git("rev-parse", "HEAD").strip() or None, "uncommitted": [line[3:] for line in changed]}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "uncommitted": None}


def machine_info() -> dict[str, Any]:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    return {"nproc": len(os.sched_getaffinity(0)), "cpu_count": os.cpu_count(), "cpu_model": model,
            "python": platform.python_version(), "implementation": platform.python_implementation(),
            "grpcio": grpc.__version__, "platform": platform.platform(), "loadavg_start": os.getloadavg()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short rounds and fewer subjects (smoke run)")
    parser.add_argument("--rounds", type=int, help="rounds per scenario")
    parser.add_argument("--duration", type=float, help="measured seconds per round")
    parser.add_argument("--profile", action="store_true",
                        help="afterwards, one more round per consent scenario (and the CheckConsent echo) under py-spy,"
                             " outside the medians")
    parser.add_argument("--results", type=Path, default=RESULTS, help="results folder (default bench/results)")
    parser.add_argument("--event-loop", choices=["uvloop", "asyncio"], default="uvloop",
                        help="event loop of the consent service and of the echo baselines alike (default: the"
                             " service's default)")
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else Config()
    cfg = replace(cfg, rounds=args.rounds or cfg.rounds, duration_s=args.duration or cfg.duration_s)

    _stop_on_sigterm()
    started = datetime.now(UTC).replace(microsecond=0)
    machine = machine_info()
    with tempfile.TemporaryDirectory(prefix="consentry-bench-") as tmp, stack(Path(tmp), args.event_loop) as s:
        groups, extra = run_all(s, cfg)
        if args.profile:
            folder = args.results / "profiles" / started.strftime("%Y%m%dT%H%M%SZ")
            extra["profiles"] = profile_servers(s, groups, folder)
    machine["loadavg_end"] = os.getloadavg()
    config = {**asdict(cfg), "quick": args.quick, "consent_service": {**consent_config(), "event_loop": args.event_loop}, "source": source_info()}
    doc = report.build([sc for sc, _ in groups], started=started, machine=machine, config=config, extra=extra)
    path = report.write(doc, args.results, started)
    print()
    print(report.table(doc))
    print(f"\nall targets met: {doc['all_targets_met']}   results: {path}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt as stop:  # clean-up has already run on the way out
        print(f"\ninterrupted ({stop or 'Ctrl-C'}); every process was stopped", file=sys.stderr)
        sys.exit(130)
