"""CheckConsent against the number of stored consent records: two consent services configured as the
run's own (the dev platform's settings, mTLS, default pool and decision cache, expiry sweep hourly as
in the consent section), one on a database of the baseline's size and one of the large size, rounds
alternating. Each database gets the benchmark's purpose and one real grant (the template) through the
service, then the service is stopped, the records are loaded (consent_rows.py), the filing count taken
afresh (the load ran without the triggers that keep it), the tables vacuumed and analysed, and the
service started again."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from bench.common.consents import grant_all, setup_purpose
from bench.common.platform import consent_env, free_port
from bench.common.report import Goal, Scenario
from bench.common.rounds import run_interleaved
from bench.common.stack import Stack, service_env
from bench.scale import bulk
from bench.scale.calls import CheckSpec, run_checks
from bench.scale.consent_rows import CONSENTS, TEMPLATE, TEMPLATE_ROWS, TEMPLATE_SUBJECT
from bench.scale.processes import label, restart, retire, start_service
from services.consent.settings import ConsentSettings

SECTION = "scale"
SWEEP_MAX_S = 1800.0
_FIELDS = ConsentSettings.model_fields
# The filing watch (at start and every filing_check_interval_s) saves a state once the count reaches
# this share of the threshold: then we know its first sweep is over.
FILING_MARK = _FIELDS["filing_threshold"].default * _FIELDS["filing_warning_share"].default


def _wait_first_sweep(s: Stack, database: str, records: int, began: float) -> float | None:
    """Seconds from the start until the filing watch's first count finished, so that it does not run
    inside a round (None where the count stays below the mark and leaves no trace to wait for)."""
    if records < FILING_MARK:
        return None
    while not s.pg.execute("SELECT count(*) FROM filing_states", database=database):
        if time.monotonic() - began > SWEEP_MAX_S:
            raise RuntimeError(f"the filing watch of {database} did not finish within {SWEEP_MAX_S:.0f}s")
        time.sleep(0.2)
    return time.monotonic() - began


def _load(s: Stack, database: str, records: int) -> dict[str, Any]:
    dsn = s.pg.dsn(database)
    if s.pg.execute(TEMPLATE_ROWS, TEMPLATE_SUBJECT, database=database) != 1:
        raise RuntimeError(f"{database}: the template grant left no record")
    restore = bulk.pause(dsn, ["consents", "consent_history"])  # every index grows in load order
    loaded = bulk.load(dsn, CONSENTS, 0, records, records, datetime.now(UTC), setup=TEMPLATE)
    bulk.resume(dsn, restore)
    recounted = bulk.run(dsn, "SELECT recount_stored_face_data()")
    vacuumed = bulk.run(dsn, "VACUUM ANALYZE consents", "VACUUM ANALYZE consent_history",
                        "VACUUM ANALYZE stored_face_data_subjects")
    flushed = bulk.flush(dsn)
    size = s.pg.execute("SELECT pg_size_pretty(pg_total_relation_size('consents')"
                        " + pg_total_relation_size('consent_history'))", database=database)
    return {"records": records, "load_seconds": loaded, "filing_recount_seconds": recounted,
            "vacuum_analyze_seconds": vacuumed, "flush_seconds": flushed, "size": size}


def run(s: Stack, sizes: Any) -> tuple[list[Scenario], dict[str, Any]]:
    """Scenarios (baseline first) and the set-up's figures."""
    sides = []
    for records in sizes.consents:
        name, database = f"consent-{label(records)}", f"consent_scale_{label(records).lower()}"
        port = free_port()
        env = {**consent_env(s.dev, port, database), "CONSENTRY_CONSENT_EXPIRY_INTERVAL_S": "3600"}
        print(f"scale: starting {name} (database {database}) ...", flush=True)
        proc = start_service(s, name, "services.consent", service_env("consent", env, s.event_loop), port, database)
        s.gen.apply(setup_purpose, (proc.target,))
        if s.gen.apply(grant_all, (proc.target, [TEMPLATE_SUBJECT], 1)) != 1:
            raise RuntimeError(f"{name}: the template grant failed")
        sides.append((records, name, database, proc))
    found: dict[str, Any] = {}
    for records, name, database, proc in sides:
        proc.stop()  # its decision cache must not outlive the load
        print(f"scale: loading {records:,} consent records into {database} ...", flush=True)
        found[name] = _load(s, database, records)
        f = found[name]
        print(f"  loaded in {f['load_seconds']:.1f}s, filing count {f['filing_recount_seconds']:.1f}s,"
              f" VACUUM ANALYZE {f['vacuum_analyze_seconds']:.1f}s, written out {f['flush_seconds']:.1f}s"
              f" ({f['size']})", flush=True)
    for records, name, database, proc in sides:
        began = time.monotonic()
        found[name]["start_seconds"] = restart(s, proc)
        found[name]["first_filing_sweep_seconds"] = _wait_first_sweep(s, database, records, began)
        print(f"  {name} serving after {found[name]['start_seconds']:.1f}s, its first filing count done after"
              f" {found[name]['first_filing_sweep_seconds'] or 0:.1f}s", flush=True)
    scenarios = _rounds(s, sizes, sides)
    retire(s, [proc for *_, proc in sides], [database for _, _, database, _ in sides])
    return scenarios, found


def _rounds(s: Stack, sizes: Any, sides: list) -> list[Scenario]:
    groups = []
    base_name = None
    for records, name, _database, proc in sides:
        note = (f"{records:,} consent records loaded (+ the template grant); {sizes.check_concurrency} in flight, mTLS;"
                f" {1 - sizes.unknown_share:.0%} of the checks ask about a loaded subject, each asked about once in"
                " the run (positions of a fixed permutation of the whole table: the decision cache answers none),"
                f" {sizes.unknown_share:.0%} about a subject with no record")
        scenario = Scenario(f"CheckConsent x{sizes.check_concurrency}, {records:,} consents", "CheckConsent",
                            f"{name}+postgres", base_name, section=SECTION, unit="checks", note=note,
                            extra_medians=("subjects_repeated",),
                            ratio_goals={"p99_ms": Goal("<=", 1.2)} if base_name else {})
        base_name = base_name or scenario.name
        groups.append((scenario, CheckSpec(proc.target, records, records // sizes.rounds, sizes.check_concurrency,
                                           sizes.duration_s, sizes.warmup_s, sizes.unknown_share)))
    print(f"scale: CheckConsent, {sizes.rounds} rounds of {sizes.warmup_s:g}s warm-up + {sizes.duration_s:g}s"
          " on each table, alternating", flush=True)
    run_interleaved(s, groups, sizes.rounds, run_checks)
    return [scenario for scenario, _ in groups]
