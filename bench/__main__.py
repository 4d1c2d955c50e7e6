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
from bench.procs import GrpcServerProcess, cpu_seconds, echo_server
from bench.profiling import profiled
from bench.report import Goal, Scenario
from services.common.devstack import PostgresProcess, TansuProcess, free_port
from services.common.pki import DevCA

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
def stack(run_dir: Path) -> Iterator[Stack]:
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
            # The hourly default would be fine too; a sweep must just not land inside a round.
            "CONSENTRY_CONSENT_EXPIRY_INTERVAL_S": "3600",
        }
        print("starting the consent service and the echo baselines ...", flush=True)
        consent = GrpcServerProcess(run_dir / "consent", "consent", ["services.consent"], client_tls, env, port)
        echo_mtls = echo_server(run_dir / "echo-mtls", "echo-mtls", server_tls, client_tls)
        echo_plain = echo_server(run_dir / "echo-insecure", "echo-insecure", None, None)
        for proc in (consent, echo_mtls, echo_plain):
            stop.callback(proc.stop)
            proc.start()

        # spawn, not fork: the generator must not inherit this process's gRPC threads.
        gen = multiprocessing.get_context("spawn").Pool(1)
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
    """One round in the generator process, with the CPU each process used meanwhile."""
    settle(s)
    before, t0 = {k: cpu_seconds(p) for k, p in s.pids.items()}, time.monotonic()
    result: dict[str, Any] = s.gen.apply_async(run_round, (spec,)).get(
        timeout=spec.warmup_s + spec.duration_s + 2 * CALL_TIMEOUT_S + 30)
    wall = time.monotonic() - t0
    result["cpu_cores"] = {k: (cpu_seconds(p) - before[k]) / wall for k, p in s.pids.items()}
    return result


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


def scenarios(s: Stack, cfg: Config) -> tuple[Groups, dict[str, Any]]:
    mtls, plain, consent = s.echo_mtls.target, s.echo_plain.target, s.consent.target
    s.gen.apply(setup_purpose, (consent,))

    print(f"seeding {cfg.subjects:,} subjects with GrantConsent ({cfg.concurrency} in flight) ...", flush=True)
    seed = measure(s, RoundSpec("seed", consent, concurrency=cfg.concurrency, duration_s=600, warmup_s=0,
                                seeded_subjects=cfg.subjects))
    print(_line("seed GrantConsent (one pass)", seed), flush=True)
    if seed["errors"] or seed["calls"] != cfg.subjects:
        raise RuntimeError(f"seeding failed: {seed['calls']} of {cfg.subjects} granted, errors {seed['errors']}")
    settle(s)
    s.pg.execute("VACUUM ANALYZE", database="consent")  # fresh statistics: the plan must not change mid-run

    common = dict(concurrency=cfg.concurrency, duration_s=cfg.duration_s, warmup_s=cfg.warmup_s,
                  seeded_subjects=cfg.subjects, unknown_share=cfg.unknown_share)

    def check_group(rpc: str, kind: str, goals: dict[str, Goal], **kw: Any) -> list[tuple[Scenario, RoundSpec]]:
        n = kw.get("batch_size", 1)
        base = Scenario(f"{rpc} echo mTLS", rpc, "echo-mtls", decisions_per_call=n)
        return [(base, RoundSpec(kind, mtls, **{**common, **kw})),
                (Scenario(f"{rpc} consent", rpc, "consent", base.name, n, **goals), RoundSpec(kind, consent, **{**common, **kw}))]

    check = check_group("CheckConsent", "check",
                        {"ratio_goals": {"rps": Goal(">=", 0.8), "p99_ms": Goal("<=", 1.5)}})
    check.append((Scenario("CheckConsent echo plaintext", "CheckConsent", "echo-insecure", check[0][0].name,
                           note="reference: the same echo without TLS"), RoundSpec("check", plain, **common)))
    batch = check_group("CheckConsents", "check_batch", {"goals": {"decisions_per_s": Goal(">=", 20_000)}},
                        batch_size=cfg.batch_size, concurrency=cfg.batch_concurrency)
    grant = [(Scenario("GrantConsent echo mTLS", "GrantConsent", "echo-mtls"), RoundSpec("grant", mtls, **common)),
             (Scenario("GrantConsent consent", "GrantConsent", "consent", "GrantConsent echo mTLS",
                       goals={"rps": Goal(">=", 1_000)}, note="distinct new subject per call"),
              RoundSpec("grant", consent, **common))]
    for title, group in (("CheckConsent", check), ("CheckConsents", batch), ("GrantConsent", grant)):
        print(f"{title}: {cfg.rounds} rounds of {cfg.warmup_s:g}s warm-up + {cfg.duration_s:g}s", flush=True)
        run_interleaved(s, group, cfg.rounds)
    return check + batch + grant, {"seed": seed}


def profile_consent(s: Stack, groups: Groups, folder: Path) -> list[dict[str, Any]]:
    """One extra round per consent scenario with py-spy attached to the consent server."""
    found = []
    for scenario, spec in groups:
        if scenario.server != "consent":
            continue
        settle(s)
        out = folder / f"{scenario.rpc}.collapsed"
        spec = replace(spec, subject_prefix="grant-profiled-")
        print(f"profiling the consent server during {scenario.name} ...", flush=True)
        result, summary = profiled(s.pids["consent"], spec.warmup_s + spec.duration_s + 1, out,
                                   lambda spec=spec: measure(s, spec))
        print(_line(f"{scenario.name} (profiled)", result), flush=True)
        print(summary, flush=True)
        found.append({"name": scenario.name, "round": result, "collapsed": str(out),
                      "summary": str(out.with_suffix(".txt"))})
    return found


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
                        help="afterwards, one more round per consent scenario under py-spy (not in the medians)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="results folder (default bench/results)")
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else Config()
    cfg = replace(cfg, rounds=args.rounds or cfg.rounds, duration_s=args.duration or cfg.duration_s)

    _stop_on_sigterm()
    started = datetime.now(UTC).replace(microsecond=0)
    machine = machine_info()
    with tempfile.TemporaryDirectory(prefix="consentry-bench-") as tmp, stack(Path(tmp)) as s:
        groups, extra = scenarios(s, cfg)
        if args.profile:
            folder = args.results / "profiles" / started.strftime("%Y%m%dT%H%M%SZ")
            extra["profiles"] = profile_consent(s, groups, folder)
    machine["loadavg_end"] = os.getloadavg()
    doc = report.build([sc for sc, _ in groups], started=started, machine=machine, config={**asdict(cfg), "quick": args.quick},
                       extra=extra)
    path = report.write(doc, args.results, started)
    print()
    print(report.table(doc))
    print(f"\nall targets met: {doc['all_targets_met']}   results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
