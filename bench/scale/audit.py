"""Inclusion proofs and ingest against the size of the audit log: two audit processes configured as
the audit section configures them (bench/audit/processes.py, on roles of their own), each reading a
topic of its own into a database of its own, one log of the baseline's size and one large.

Each process first takes in a few events itself (the template: leaves, nodes and checkpoints as it
writes them); then it is stopped, its log is grown in bulk (audit_rows.py), and it is started again.
Before anything is measured, a short proof round at the loaded size checks the loaded log against
its loaded, signed checkpoint; the ingest rounds follow (the service extends the loaded tree and signs
its own checkpoints), then the proof rounds, every proof checked against the latest checkpoint the
service signed, with bench/audit/rfc9162.py."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg
import hvac

from bench.audit.events import AuditRoundSpec
from bench.audit.ingest import produce, public_key, subject_refs
from bench.audit.processes import KEY_NAME, MOUNT, resume
from bench.audit.proofs import run_audit_round
from bench.common.processes import GrpcServerProcess
from bench.common.report import Scenario
from bench.common.rounds import line, measure, run_interleaved
from bench.common.stack import Stack, bench_kafka, start_keyvault
from bench.scale import audit_rows, bulk
from bench.scale.processes import ScaleAudit, label, restart, retire

SECTION = "scale"
LOG_PRODUCER = "bench-scale-log"  # the template's and the loaded entries' producer
TEMPLATE_EVENTS = 10
SUBJECTS = 2_000  # the ingest events' subjects: the audit section's pool, with keys in the keyvault
INGEST_MAX_S = 900.0


def _tree_size(s: Stack, database: str) -> int:
    return s.pg.execute("SELECT coalesce(max(tree_size), 0) FROM checkpoints", database=database)


async def _grow(dsn: str, size: int, now: datetime, vault: hvac.Client) -> dict[str, float]:
    """The levels above the loaded leaves, the checkpoints, the producer's progress; seconds per step."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SET session_replication_role = replica")
        began = time.perf_counter()
        await audit_rows.build_levels(conn, size)
        nodes = time.perf_counter()
        first = await conn.fetchval("SELECT max(tree_size) FROM checkpoints")
        note, key_id = await conn.fetchrow("SELECT note, key_id FROM checkpoints ORDER BY tree_size LIMIT 1")
        sizes = audit_rows.checkpoint_sizes(first, size)
        issued = audit_rows.issued_times(now, size, sizes, first)
        roots = await audit_rows.roots(conn, sizes)
        notes = audit_rows.notes(bytes(note).decode().split("\n")[0], roots, issued)
        signatures = await asyncio.to_thread(audit_rows.sign, vault, KEY_NAME, MOUNT, [notes[n] for n in sizes])
        await conn.copy_records_to_table("checkpoints", records=[
            (n, roots[n], issued[n], notes[n], signature, key_id) for n, signature in zip(sizes, signatures, strict=True)],
            columns=["tree_size", "root_hash", "issued_at", "note", "signature", "key_id"])
        await conn.execute(audit_rows.PROGRESS, LOG_PRODUCER, size)
        return {"nodes_seconds": nodes - began, "checkpoints": len(sizes), "checkpoint_seconds": time.perf_counter() - nodes}
    finally:
        await conn.close()


async def _template(dsn: str) -> Any:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchrow(audit_rows.TEMPLATE)
    finally:
        await conn.close()


def _load(s: Stack, database: str, entries: int, audit: ScaleAudit) -> dict[str, Any]:
    """Leaves TEMPLATE_EVENTS..entries-1 after the template's, their tree and checkpoints."""
    dsn = s.pg.dsn(database)
    body, event_id, occurred_at, sequence, subject_ref, producer, event_type, controller = asyncio.run(_template(dsn))
    if producer != LOG_PRODUCER:
        raise RuntimeError(f"{database}: leaf 0 is not one of the template's events (producer {producer})")
    parts = audit_rows.body_parts(body, event_id, occurred_at, sequence, subject_ref)
    now = datetime.now(UTC)
    restore = bulk.pause(dsn, ["entries", "tree_nodes"], [audit_rows.SUBJECT_INDEX])
    loaded = bulk.load(dsn, audit_rows.ENTRIES, TEMPLATE_EVENTS, entries, entries, now, max(entries // 10, 1), *parts,
                       producer, event_type, controller)
    signer = hvac.Client(url=s.vault_metrics.address, token=audit.token)  # the service's own token
    grown = asyncio.run(_grow(dsn, entries, now, signer))
    indexed = bulk.resume(dsn, restore)
    vacuumed = bulk.run(dsn, "VACUUM ANALYZE")
    flushed = bulk.flush(dsn)
    size = s.pg.execute("SELECT pg_size_pretty(pg_database_size(current_database()))", database=database)
    return {"entries": entries, "entries_seconds": loaded, "subject_index_seconds": indexed, **grown,
            "vacuum_analyze_seconds": vacuumed, "flush_seconds": flushed, "size": size}


def _await_size(s: Stack, database: str, size: int, max_s: float = 120.0) -> None:
    began = time.monotonic()
    while _tree_size(s, database) < size:
        if time.monotonic() - began > max_s:
            raise RuntimeError(f"{database}: no checkpoint at {size} after {max_s:.0f}s")
        time.sleep(0.1)


class Log:
    """One audit process, its database and topic, and how many events of the ingest producer it was sent."""

    def __init__(self, s: Stack, audit: ScaleAudit, entries: int) -> None:
        self.entries, self.name = entries, f"audit-{label(entries)}"
        self.database, self.topic = f"audit_scale_{label(entries).lower()}", f"bench.scale-{label(entries).lower()}.events"
        s.kafka.create_topics([self.topic])
        print(f"scale: starting {self.name} (database {self.database}, topic {self.topic}) ...", flush=True)
        self.proc: GrpcServerProcess = audit.start(self.name, self.database, self.topic)
        self.dsn = audit.dsn(self.database)
        self.produced = 0


def _ingest(s: Stack, log: Log, events: int) -> dict[str, Any]:
    """As the audit section's ingest rounds: the process stopped while the events are produced, then
    timed from its resumption to the signed checkpoint that covers them."""
    assert log.proc.pid is not None
    from_size = _tree_size(s, log.database)
    os.kill(log.proc.pid, signal.SIGSTOP)
    try:
        s.gen.apply(produce, (bench_kafka(s), log.topic, log.produced + 1, events, SUBJECTS))
        log.produced += events
        spec = AuditRoundSpec("ingest", dsn=log.dsn, audit_pid=log.proc.pid, from_size=from_size, events=events,
                              max_s=INGEST_MAX_S)
        return measure(s, spec, run_audit_round, INGEST_MAX_S + 60)
    finally:
        resume(log.proc.pid)


def _ingest_rounds(s: Stack, sizes: Any, logs: list[Log]) -> list[Scenario]:
    scenarios, base = [], None
    for log in logs:
        scenario = Scenario(f"ingest into a log of {log.entries:,}", "Kafka to log",
                            f"{log.name}+postgres+tansu+stunnel+keyvault+consent+openbao", base, section=SECTION,
                            unit="events", extra_medians=("seconds", "checkpoints"),
                            note=f"{sizes.ingest_events:,} events per round (consent.withdrawn envelopes of"
                                 f" {SUBJECTS:,} subjects), produced while the process is stopped; seconds = resumed"
                                 f" to the signed checkpoint covering them; the log held {log.entries:,} entries"
                                 " before the first round")
        base = base or scenario.name
        scenarios.append(scenario)
    print(f"scale: ingest, a warm-up of 1,000 events, then {sizes.ingest_rounds} rounds of {sizes.ingest_events:,}"
          " into each log, alternating", flush=True)
    for log in logs:
        _ingest(s, log, 1_000)
    pairs = list(zip(scenarios, logs, strict=True))
    for i in range(sizes.ingest_rounds):  # the baseline first in rounds 1, 3, ..., second in 2, 4, ...
        for scenario, log in pairs if i % 2 == 0 else pairs[::-1]:
            result = _ingest(s, log, sizes.ingest_events)
            scenario.rounds.append(result)
            print(f"  {scenario.name} #{i + 1:<10} {result['rps']:>9,.0f} events/s ({result['seconds']:.2f}s,"
                  f" {result['checkpoints']} checkpoints){'  errors ' + str(result['errors']) if result['errors'] else ''}",
                  flush=True)
    return scenarios


def _proof_scenarios(s: Stack, sizes: Any, logs: list[Log], pem: dict[str, str]) -> list[tuple[Scenario, Any]]:
    groups, base = [], None
    for log in logs:
        size = _tree_size(s, log.database)
        scenario = Scenario(f"GetInclusionProof x{sizes.proof_concurrency}, log of {log.entries:,}",
                            "GetInclusionProof", f"{log.name}+postgres", base, section=SECTION, unit="proofs",
                            extra_medians=("proof_bytes_max",),
                            note=f"{sizes.proof_concurrency} in flight; a random leaf of the whole log per call, at the"
                                 f" latest size ({size:,}: {log.entries:,} loaded and the ingest rounds'), every proof"
                                 " verified against the checkpoint the service signed")
        base = base or scenario.name
        groups.append((scenario, AuditRoundSpec("proof", target=log.proc.target, tree_size=size,
                                                concurrency=sizes.proof_concurrency, duration_s=sizes.duration_s,
                                                warmup_s=sizes.warmup_s, public_key_pem=pem[log.name])))
    return groups


def run(s: Stack, sizes: Any) -> tuple[list[Scenario], dict[str, Any]]:
    start_keyvault(s, ["wrapped"])
    refs = s.gen.apply(subject_refs, (s.keyvaults["wrapped"].target, SUBJECTS))
    if len(refs) != SUBJECTS or not all(refs.values()):
        raise RuntimeError(f"keyvault gave {sum(map(bool, refs.values()))} of {SUBJECTS} subject references")
    databases = [f"audit_scale_{label(n).lower()}" for n in sizes.audit_entries]
    audit = ScaleAudit.provision(s, databases)
    logs = [Log(s, audit, n) for n in sizes.audit_entries]
    for log in logs:
        s.gen.apply(produce, (bench_kafka(s), log.topic, 1, TEMPLATE_EVENTS, SUBJECTS, LOG_PRODUCER))
        _await_size(s, log.database, TEMPLATE_EVENTS)
    found: dict[str, Any] = {}
    for log in logs:
        log.proc.stop()  # its tree's frontier and signed sizes live in memory
        print(f"scale: growing {log.database} to {log.entries:,} entries ...", flush=True)
        found[log.name] = _load(s, log.database, log.entries, audit)
        f = found[log.name]
        print(f"  entries and leaf hashes {f['entries_seconds']:.1f}s, index by subject {f['subject_index_seconds']:.1f}s,"
              f" levels above {f['nodes_seconds']:.1f}s,"
              f" {f['checkpoints']:,} checkpoints signed {f['checkpoint_seconds']:.1f}s, VACUUM ANALYZE"
              f" {f['vacuum_analyze_seconds']:.1f}s, written out {f['flush_seconds']:.1f}s ({f['size']})", flush=True)
    pem = {}
    for log in logs:
        found[log.name]["start_seconds"] = restart(s, log.proc)
        pem[log.name] = s.gen.apply(public_key, (log.proc.target,))
        check = measure(s, AuditRoundSpec("proof", target=log.proc.target, tree_size=log.entries, concurrency=1,
                                          duration_s=1.0, warmup_s=0.2, public_key_pem=pem[log.name]), run_audit_round)
        found[log.name]["loaded_proofs_checked"] = check["calls"]
        print(line(f"{log.name}: proofs at the loaded size", check), flush=True)
        if check["errors"] or not check["calls"]:
            raise RuntimeError(f"{log.name}: proofs of the loaded log do not verify: {check['errors']}")
    scenarios = _ingest_rounds(s, sizes, logs)
    proofs = _proof_scenarios(s, sizes, logs, pem)
    print(f"scale: GetInclusionProof, {sizes.rounds} rounds of {sizes.warmup_s:g}s warm-up + {sizes.duration_s:g}s"
          " on each log, alternating", flush=True)
    run_interleaved(s, proofs, sizes.rounds, run_audit_round)
    retire(s, [log.proc for log in logs], databases)
    return [*scenarios, *(scenario for scenario, _ in proofs)], found
