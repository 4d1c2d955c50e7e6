"""ListRequests against the number of stored requests: two dsr services configured as the dev platform
configures the service (mTLS, the run's policy, default pool and retention settings), each on a
database of its own, one of the baseline's size and one large; the requests are loaded while the
service is stopped (it applies its migrations at its first start), then it is started again. The
DPO's listings are asked one call at a time: first pages and a page deep in the listing, with each
filter ListRequestsRequest offers, rounds alternating between the two tables."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from bench.common.platform import dsr_env, free_port
from bench.common.report import Scenario
from bench.common.rounds import run_interleaved
from bench.common.stack import Stack, service_env
from bench.scale import bulk, dsr_rows
from bench.scale.calls import ListSpec, page_token, run_lists
from bench.scale.processes import label, restart, retire, start_service
from consentry.dsr.v1 import dsr_pb2 as pb

SECTION = "scale"
PAGE_SIZE = 100  # the service's default page
# (what is listed, the query, whether from a page deep in the listing)
LISTINGS: tuple[tuple[str, tuple[tuple[str, Any], ...], bool], ...] = (
    ("every request", (), False),
    ("every request", (), True),
    ("COMPLETED", (("status", pb.REQUEST_STATUS_COMPLETED),), False),
    ("COMPLETED", (("status", pb.REQUEST_STATUS_COMPLETED),), True),
    ("VERIFICATION_PENDING", (("status", pb.REQUEST_STATUS_VERIFICATION_PENDING),), False),
    ("overdue only", (("overdue_only", True),), False),
    ("DELETION in CN", (("type", pb.REQUEST_TYPE_DELETION), ("jurisdiction", "CN")), False),
    ("with a task for face-gate-a", (("processor", dsr_rows.PROCESSORS[0]),), False),
    ("one person's (subject_id)", (("subject", True),), False),
)


def _load(s: Stack, database: str, requests: int) -> dict[str, Any]:
    dsn, now = s.pg.dsn(database), datetime.now(UTC)
    bulk.run(dsn, dsr_rows.PROCESSOR_ROWS)
    restore = bulk.pause(dsn, ["requests", "tasks"])
    loaded = bulk.load(dsn, dsr_rows.REQUESTS, 0, requests, requests, now, max(requests // 2, 1))
    bulk.resume(dsn, restore)
    vacuumed = bulk.run(dsn, "VACUUM ANALYZE")
    flushed = bulk.flush(dsn)
    counts = json.loads(s.pg.execute("SELECT jsonb_object_agg(status, n) FROM (SELECT status, count(*) AS n"
                                     " FROM requests GROUP BY status) c", database=database))
    tasks = s.pg.execute("SELECT count(*) FROM tasks", database=database)
    size = s.pg.execute("SELECT pg_size_pretty(pg_total_relation_size('requests') + pg_total_relation_size('tasks'))",
                        database=database)
    return {"requests": requests, "load_seconds": loaded, "vacuum_analyze_seconds": vacuumed, "flush_seconds": flushed,
            "by_status": counts, "tasks": tasks, "size": size}


def run(s: Stack, sizes: Any) -> tuple[list[Scenario], dict[str, Any]]:
    # dsr's upstreams (its identity is not granted there): a listing never calls them
    ports = {"consent": s.consent.port, "keyvault": s.consent.port, "audit": s.consent.port}
    sides = []
    for requests in sizes.requests:
        name, database, port = f"dsr-{label(requests)}", f"dsr_scale_{label(requests).lower()}", free_port()
        print(f"scale: starting {name} (database {database}) ...", flush=True)
        env = service_env("dsr", dsr_env(s.dev, port, ports, database), s.event_loop)
        sides.append((requests, name, database, start_service(s, name, "services.dsr", env, port, database)))
    found: dict[str, Any] = {}
    for requests, name, database, proc in sides:
        proc.stop()
        print(f"scale: loading {requests:,} requests into {database} ...", flush=True)
        found[name] = f = _load(s, database, requests)
        print(f"  loaded in {f['load_seconds']:.1f}s ({f['tasks']:,} tasks), VACUUM ANALYZE {f['vacuum_analyze_seconds']:.1f}s,"
              f" written out {f['flush_seconds']:.1f}s ({f['size']}); by status {f['by_status']}", flush=True)
        found[name]["start_seconds"] = restart(s, proc)
    scenarios = []
    print(f"scale: ListRequests, {sizes.rounds} rounds per listing on each table, alternating (one call at a time,"
          f" at least {sizes.list_calls} calls and {sizes.duration_s:g}s per round)", flush=True)
    for what, query, deep in LISTINGS:
        groups, base = [], None
        for requests, name, _, proc in sides:
            spec = ListSpec(proc.target, query, people=max(requests // 2, 1), page_size=PAGE_SIZE,
                            min_calls=sizes.list_calls, min_s=sizes.duration_s)
            if deep:
                spec = replace(spec, page_token=s.gen.apply(page_token, (spec, sizes.deep_pages)))
            page = f"page {sizes.deep_pages + 1}" if deep else "first page"
            scenario = Scenario(f"ListRequests {what}, {page}, {requests:,} requests", "ListRequests",
                                f"{name}+postgres", base, section=SECTION, unit="pages",
                                note=f"{requests:,} requests loaded; {PAGE_SIZE} per page, one call at a time"
                                     + (f", from the token of page {sizes.deep_pages + 1}" if deep else ""))
            base = base or scenario.name
            groups.append((scenario, spec))
        run_interleaved(s, groups, sizes.rounds, run_lists, max_s=groups[0][1].max_s + 60)
        scenarios += [scenario for scenario, _ in groups]
    retire(s, [proc for *_, proc in sides], [database for _, _, database, _ in sides])
    return scenarios, found
