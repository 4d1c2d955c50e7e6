"""The audit section: sustained ingest from Kafka to a signed checkpoint beside a naive consumer,
inclusion proofs and VerifyLog on a large log beside the bare store.

Audit processes (processes.py) configured as the dev platform configures the service: "audit" takes
in the benchmark's topic into its own database; "audit-proofs" takes in the large log's events from a
topic of its own, into another database, before it serves the proofs. Both reach the shared broker
over its TLS front with their own certificate, as every service does. A third, "audit-plain",
configured the same but on its own database and a plaintext Tansu (security_protocol PLAINTEXT),
takes in the same number of events in rounds alternating with the ingest rounds: what TLS with
client certificates on Kafka costs the ingest (bench/common/kafka_tls.py).
"""

from __future__ import annotations

import math
import os
import signal
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.audit.events import PROOFS_TOPIC, TOPIC, AuditRoundSpec
from bench.audit.ingest import NAIVE_TABLE, produce, public_key, subject_refs
from bench.audit.processes import FIELDS, AuditProcesses, resume
from bench.audit.proofs import run_audit_round
from bench.consent.section import start_echo
from bench.audit.table import table
from bench.common.kafka_tls import Pair
from bench.common.load import KafkaClient
from bench.common.processes import GrpcServerProcess
from bench.common.profiling import profiled_processes
from bench.common.report import Goal, Scenario
from bench.common.rounds import Groups, measure, profile_round, run_interleaved
from bench.common.section import Results, Section
from bench.common.stack import Stack, bench_kafka, start_keyvault

NAME = "audit"
INGEST_DB, PROOFS_DB, NAIVE_DB, PLAIN_DB = "audit", "audit_proofs", "audit_naive", "audit_plain"
BATCH_SIZE = FIELDS["batch_size"].default  # the service's default: events per batch and checkpoint
INGEST_MAX_S = 900.0  # an ingest round (either consumer) fails after this long
VERIFY_MAX_S = 600.0  # the VerifyLog deadline
BUILD_MAX_S = 3600.0  # taking in the log for the proofs
INGEST, PLAIN_INGEST = "ingest audit", "ingest audit, plaintext Kafka"  # the Kafka comparison's pair


@dataclass(frozen=True)
class Sizes:
    rounds: int = 3  # proof rounds
    duration_s: float = 5.0
    warmup_s: float = 1.5
    ingest_rounds: int = 3
    ingest_events: int = 30_000  # per ingest round
    warmup_events: int = 2_000  # one ingest before the rounds, not measured
    subjects: int = 2_000  # the pool the events' subjects are drawn from
    log_entries: int = 1_000_000  # the log the proofs and VerifyLog rounds run on
    proof_concurrency: int = 16  # proofs in flight; a reference pair runs one at a time
    verify_runs: int = 3
    plaintext_kafka: bool = True  # the same ingest on a plaintext broker, rounds alternating (kafka_tls)


QUICK = Sizes(rounds=2, duration_s=1.5, warmup_s=0.5, ingest_rounds=2, ingest_events=10_000,
             warmup_events=1_000, log_entries=100_000, verify_runs=2)


@dataclass
class Ingest:
    """An audit process that takes in a topic of the benchmark's, and how the generator produces onto its broker."""
    proc: GrpcServerProcess
    database: str
    kafka: KafkaClient
    topic: str = TOPIC
    produced: int = 0  # sequences 1..produced are on its topic


def _tree_size(s: Stack, database: str) -> int:
    return s.pg.execute("SELECT coalesce(max(tree_size), 0) FROM checkpoints", database=database)


def _ingest_round(s: Stack, ingest: Ingest, count: int, subjects: int, naive: bool, max_s: float = INGEST_MAX_S,
                  profile: Path | None = None) -> tuple[dict[str, Any] | None, dict[str, Any], float]:
    """The audit process is stopped while `count` events are produced, the naive consumer (if `naive`)
    takes them in, then the audit process is resumed and takes them in; (naive, audit, seconds producing).
    `profile`: py-spy samples the audit process into that file while it takes them in."""
    proc = ingest.proc
    assert proc.pid is not None
    from_size = _tree_size(s, ingest.database)
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        made = s.gen.apply(produce, (ingest.kafka, ingest.topic, ingest.produced + 1, count, subjects))
        ingest.produced += count
        common = dict(events=count, max_s=max_s)
        base = measure(s, AuditRoundSpec("naive", dsn=s.pg.dsn(NAIVE_DB), kafka=ingest.kafka, ranges=made["ranges"],
                                         **common), run_audit_round, max_s + 60) if naive else None

        def taken_in() -> dict[str, Any]:
            return measure(s, AuditRoundSpec("ingest", dsn=s.pg.dsn(ingest.database), audit_pid=proc.pid,
                                             from_size=from_size, **common), run_audit_round, max_s + 60)
        if profile is None:
            audit = taken_in()
        else:
            audit, summaries = profiled_processes({profile: proc.pid}, taken_in)
            audit["profile"] = {"collapsed": str(profile), "summary": str(profile.with_suffix(".txt")),
                                "first_line": summaries[profile].splitlines()[0]}
    finally:
        resume(proc.pid)
    return base, audit, made["seconds"]


def _ingest_line(name: str, r: dict[str, Any]) -> str:
    extra = f", {r['checkpoints']} checkpoints" if "checkpoints" in r else ""
    errors = f"  errors {r['errors']}" if r["errors"] else ""
    return f"  {name:<42} {r['rps']:>9,.0f} events/s  ({r['events']:,} events in {r['seconds']:.2f}s{extra}){errors}"


def _ingest_scenarios(sizes: Sizes, plain: bool) -> list[Scenario]:
    """The naive consumer, the audit service and (with `plain`) audit-plain on the plaintext broker."""
    note = (f"{sizes.ingest_events:,} events per round (consent.withdrawn envelopes, {sizes.subjects:,} subjects, gap-free"
            f" sequences, keyed by subject, 3 partitions), produced before the clock starts; seconds = consumer"
            " free to start to last event durable")
    base = Scenario("ingest naive consumer", "Kafka to log", "gen+postgres+tansu", section=NAME, unit="events",
                    extra_medians=("seconds",),
                    note=note + "; one transaction per event reading the previous row's hash (sha256 chain)")
    audit = Scenario(INGEST, "Kafka to log", "audit", base.name, section=NAME, unit="events",
                     extra_medians=("seconds", "checkpoints"), goals={"rps": Goal(">=", 5_000)},
                     ratio_goals={"rps": Goal(">=", 5)},
                     note=note + f"; until the signed checkpoint covering the round (batch size {BATCH_SIZE:,}); the"
                                 " audit process was stopped (SIGSTOP) while they were produced, resumed at the start;"
                                 " Kafka over TLS with the service's client certificate (the broker's TLS front)")
    scenarios = [base, audit]
    if plain:
        scenarios.append(Scenario(
            PLAIN_INGEST, "Kafka to log", "audit-plain+postgres+tansu-plain+keyvault+consent+openbao", section=NAME,
            unit="events", extra_medians=("seconds", "checkpoints"),
            note=audit.note.replace("Kafka over TLS with the service's client certificate (the broker's TLS front)",
                                    "the same settings on a plaintext Tansu of its own (security_protocol PLAINTEXT),"
                                    " its own database; rounds alternate with the audit service's")))
    return scenarios


def run_ingest(s: Stack, sizes: Sizes, secured: Ingest, plain: Ingest | None
               ) -> tuple[list[Scenario], dict[str, Any]]:
    """Round i: the naive consumer and the audit service on the shared (TLS) broker and, if `plain`,
    audit-plain on the plaintext broker (after them in rounds 1, 3, ..., before them in 2, 4, ...); every
    round of each on the same number of fresh events."""
    scenarios = _ingest_scenarios(sizes, plain is not None)
    print(f"ingest: warm-up of {sizes.warmup_events:,} events, then {sizes.ingest_rounds} rounds of"
          f" {sizes.ingest_events:,} (naive consumer, then the audit service, on the same events"
          + ("; audit-plain on as many over plaintext Kafka: after them in rounds 1, 3, ..., before them in"
             " rounds 2, 4, ...)" if plain else ")"), flush=True)
    warm = _ingest_round(s, secured, sizes.warmup_events, sizes.subjects, naive=True)
    warm_plain = [_ingest_round(s, plain, sizes.warmup_events, sizes.subjects, naive=False)[1]] if plain else []
    for name, result in zip(("warm-up naive", "warm-up audit", "warm-up audit-plain"), [*warm[:2], *warm_plain],
                            strict=False):
        print(_ingest_line(name, result), flush=True)
    producing = []
    for i in range(sizes.ingest_rounds):
        # audit-plain after the others in rounds 1, 3, ..., before them in 2, 4, ...: no side always goes first
        plain_result = (_ingest_round(s, plain, sizes.ingest_events, sizes.subjects, naive=False)[1]
                        if plain is not None and i % 2 else None)
        naive, ingested, seconds = _ingest_round(s, secured, sizes.ingest_events, sizes.subjects, naive=True)
        producing.append(seconds)
        if plain is not None and not i % 2:
            plain_result = _ingest_round(s, plain, sizes.ingest_events, sizes.subjects, naive=False)[1]
        results = [naive, ingested, *([plain_result] if plain is not None else [])]
        for scenario, result in zip(scenarios, results, strict=True):
            scenario.rounds.append(result)
            print(_ingest_line(f"{scenario.name} #{i + 1}", result), flush=True)
    found: dict[str, Any] = {"produced": secured.produced, "produce_seconds": producing}
    if s.profile_dir:  # one more round of the audit service, outside the medians, with py-spy on it
        print(f"profiling the server during {INGEST} ...", flush=True)
        out = s.profile_dir / f"{INGEST.replace(' ', '-')}.collapsed"
        profiled = _ingest_round(s, secured, sizes.ingest_events, sizes.subjects, naive=False, profile=out)[1]
        print(_ingest_line(f"{INGEST} (profiled)", profiled) + f"\n  {profiled['profile']['first_line']}", flush=True)
        found["profile"] = profiled
        found["produced"] = secured.produced
    return scenarios, found


def _after_round(scenario: Scenario, r: dict[str, Any]) -> str:
    if "proof_bytes_max" in r:
        return f"  proof <= {r['proof_bytes_max']} B ({r['proof_hashes_max']} hashes)"
    return f"  {r['entries']:,} entries in {r['seconds']:.1f}s" if "entries" in r else ""


def plan_log(sizes: Sizes, proc: GrpcServerProcess, pem: str, lookup_dsn: str, echo: GrpcServerProcess
             ) -> list[tuple[str, Groups, int | None]]:
    """(title, group, rounds) of the proofs at each concurrency and of VerifyLog; `lookup_dsn` is the
    service role's, for the baselines; `echo`, the bare gRPC server one call at a time is compared with."""
    n = sizes.log_entries
    bound = 32 * math.ceil(math.log2(n))
    planned: list[tuple[str, Groups, int | None]] = []
    for concurrency in dict.fromkeys((sizes.proof_concurrency, 1)):
        common = dict(tree_size=n, duration_s=sizes.duration_s, warmup_s=sizes.warmup_s, concurrency=concurrency,
                      public_key_pem=pem)
        measured = concurrency == sizes.proof_concurrency
        note = (f"{concurrency} in flight, a random leaf of {n:,} per call, at tree size {n:,}; every proof verified"
                " against the signed root" + ("" if measured else "; reference: one at a time"))
        base = Scenario(f"GetInclusionProof store lookup x{concurrency}", "GetInclusionProof", "gen+postgres",
                        section=NAME, unit="proofs", extra_medians=("proof_bytes_max", "response_bytes_max"),
                        note=note + "; baseline: the path's stored subtree hashes read with plain SQL (one query),"
                                    " no gRPC, no checkpoint read")
        goals = {"p99_ms": Goal("<", 5), "proof_bytes_max": Goal("<=", bound)} if measured else {}
        # One at a time, the service against its own store lookup: the gap is what serving adds.
        ratio_goals = {} if measured else {"rps": Goal(">=", 0.8), "p99_ms": Goal("<=", 1.2)}
        audit = Scenario(f"GetInclusionProof audit x{concurrency}", "GetInclusionProof", "audit-proofs", base.name,
                         section=NAME, unit="proofs", goals=goals, ratio_goals=ratio_goals,
                         extra_medians=base.extra_medians,
                         note=note + f"; proof bytes = the audit path's hashes (bound 32 x ceil(log2 n) = {bound})")
        group = [(base, AuditRoundSpec("proof_lookup", dsn=lookup_dsn, **common)),
                 (audit, AuditRoundSpec("proof", target=proc.target, **common))]
        if not measured:  # the floor under the ratio goal: what gRPC's own round trip allows
            group.append((Scenario(
                "GetInclusionProof echo x1", "GetInclusionProof", "echo-mtls", base.name, section=NAME, unit="proofs",
                extra_medians=base.extra_medians,
                note="reference: a bare grpc.aio server over the same mTLS answering a canned proof of the same"
                     " size, one call at a time: gRPC's own round trip, above which no gRPC service answers"),
                AuditRoundSpec("proof_echo", target=echo.target, **common)))
        planned.append((f"GetInclusionProof x{concurrency}", group, None))
    verify = dict(tree_size=n, public_key_pem=pem, max_s=VERIFY_MAX_S)
    base = Scenario("VerifyLog re-hash only", "VerifyLog", "gen+postgres", section=NAME, unit="entries",
                    extra_medians=("seconds",), note="baseline: every body re-hashed into the tree, the root compared"
                                                     " with the latest signed checkpoint; rps = entries/s")
    audit = Scenario("VerifyLog audit", "VerifyLog", "audit-proofs", base.name, section=NAME, unit="entries",
                     extra_medians=("seconds",), goals={"seconds": Goal("<", 30)}, ratio_goals={"rps": Goal(">=", 0.8)},
                     note=f"the whole {n:,}-entry log: leaves, stored nodes, every checkpoint; rps = entries/s")
    planned.append(("VerifyLog", [(base, AuditRoundSpec("rehash", dsn=lookup_dsn, **verify)),
                                  (audit, AuditRoundSpec("verify", target=proc.target, **verify))], sizes.verify_runs))
    return planned


def _fill_log(s: Stack, log: Ingest, sizes: Sizes) -> dict[str, Any]:
    """The log the proofs are asked of: `log_entries` events taken in as the ingest rounds take theirs
    (the process stopped while they are produced, then resumed with them waiting), so that it is
    written batch by batch, a signed checkpoint per batch, as the sequencer writes a backlog."""
    _, result, produced_s = _ingest_round(s, log, sizes.log_entries, sizes.subjects, naive=False, max_s=BUILD_MAX_S)
    if result["errors"]:
        raise RuntimeError(f"the log for the proofs was not taken in: {result['errors']}")
    s.pg.execute("VACUUM ANALYZE", database=PROOFS_DB)  # as autovacuum would, but not during the rounds
    return {"entries": result["tree_size"], "checkpoints": result["checkpoints"], "seconds": result["seconds"],
            "events_per_s": result["rps"], "produce_seconds": produced_s}


def run(s: Stack, sizes: Sizes) -> Results:
    start_keyvault(s, ["wrapped"])
    print("audit set-up: databases, checkpoint key, subject keys ...", flush=True)
    audit = AuditProcesses.provision(s, [INGEST_DB, PROOFS_DB, *([PLAIN_DB] if sizes.plaintext_kafka else [])])
    s.pg.create_database(NAIVE_DB)
    s.pg.execute(NAIVE_TABLE, database=NAIVE_DB)
    s.kafka.create_topics([TOPIC, PROOFS_TOPIC])
    refs = s.gen.apply(subject_refs, (s.keyvaults["wrapped"].target, sizes.subjects))
    if len(refs) != sizes.subjects or not all(refs.values()):
        raise RuntimeError(f"keyvault gave {sum(map(bool, refs.values()))} of {sizes.subjects} subject references")
    print("starting the audit service (ingest)" + (", a plaintext Tansu and audit-plain" if sizes.plaintext_kafka
                                                   else "") + " ...", flush=True)
    secured = Ingest(audit.start("audit", INGEST_DB, TOPIC), INGEST_DB, bench_kafka(s))
    plain = None
    if sizes.plaintext_kafka:
        broker = audit.plain_broker()
        plain = Ingest(audit.start("audit-plain", PLAIN_DB, TOPIC, broker), PLAIN_DB,
                       KafkaClient(broker.kafka.bootstrap_servers))
    scenarios, info = run_ingest(s, sizes, secured, plain)
    pairs = [Pair("audit ingest (Kafka to signed checkpoint)", INGEST, PLAIN_INGEST, "events/s")] if plain else []

    print(f"the log for the proofs: {sizes.log_entries:,} events taken in by a third audit process ...", flush=True)
    log = Ingest(audit.start("audit-proofs", PROOFS_DB, PROOFS_TOPIC), PROOFS_DB, bench_kafka(s), PROOFS_TOPIC)
    built = _fill_log(s, log, sizes)
    pem = s.gen.apply(public_key, (log.proc.target,))
    print(f"  {built['entries']:,} entries, {built['checkpoints']} checkpoints in {built['seconds']:.1f}s", flush=True)
    profiles = []
    echo = start_echo(s, "echo-mtls", tls=True)
    for title, group, rounds in plan_log(sizes, log.proc, pem, audit.dsn(PROOFS_DB), echo):
        how = "one pass per round" if rounds else f"{sizes.warmup_s:g}s warm-up + {sizes.duration_s:g}s"
        print(f"{title}: {rounds or sizes.rounds} rounds of {how}", flush=True)
        run_interleaved(s, group, rounds or sizes.rounds, run_audit_round, VERIFY_MAX_S + 60 if rounds else None,
                        _after_round)
        scenarios += [scenario for scenario, _ in group]
        if s.profile_dir:  # the service's scenario once more, with py-spy on the audit process
            scenario, spec = group[1]  # the service's, after its baseline
            seconds = (1.5 * max(r["seconds"] for r in scenario.rounds) + 2 if rounds
                       else spec.warmup_s + spec.duration_s + 1)
            profiles.append(profile_round(s, scenario, spec, seconds, run_audit_round,
                                          VERIFY_MAX_S + 60 if rounds else None, _after_round))
    found = {"audit_setup": {**info, "log": built}, **({"profiles": profiles} if profiles else {})}
    return Results(scenarios, found, {"audit": audit_config(sizes, s.event_loop)}, pairs)


def audit_config(sizes: Sizes, event_loop: str) -> dict[str, Any]:
    """The run's sizes and the service settings that shape its figures (left at their defaults)."""
    defaults = {key: FIELDS[key].default for key in ("batch_size", "pool_min_size", "pool_max_size", "gap_grace_s")}
    return {**asdict(sizes), "service": {**defaults, "transport": "mTLS", "log_level": "WARNING",
                                       "event_loop": event_loop, "keyvault_backend": "wrapped",
                                       "kafka": {"audit": "SSL (client certificate, TLS front)",
                                                 "audit-proofs": "SSL (client certificate, TLS front)",
                                                 **({"audit-plain": "PLAINTEXT (a Tansu of its own)"}
                                                    if sizes.plaintext_kafka else {})},
                                       "topics": {"audit": [TOPIC], "audit-proofs": [PROOFS_TOPIC],
                                                  **({"audit-plain": [TOPIC]} if sizes.plaintext_kafka else {})}}}


SECTION = Section(NAME, Sizes(), QUICK, run, table)
