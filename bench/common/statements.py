"""`--profile`, PostgreSQL's side: which statements of which database took the server's time during a
profiled round, from pg_stat_statements (loaded only when profiling: it costs every statement a
little). Planning and execution time, summed over calls."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from consentry_dev.launchers import PostgresProcess

SETTINGS = {"shared_preload_libraries": "pg_stat_statements", "pg_stat_statements.track": "all",
            "pg_stat_statements.max": "2000", "pg_stat_statements.track_planning": "on"}


def reset(pg: PostgresProcess) -> None:
    pg.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    pg.execute("SELECT pg_stat_statements_reset()")


def _rows(pg: PostgresProcess) -> list[dict[str, Any]]:
    return json.loads(pg.execute(
        "SELECT coalesce(json_agg(s ORDER BY s.total_ms DESC), '[]') FROM ("
        " SELECT d.datname, s.calls, s.total_plan_time + s.total_exec_time AS total_ms, s.total_plan_time AS plan_ms,"
        " s.plans, s.rows, s.query"
        " FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid"
        " WHERE s.query NOT LIKE '%pg_stat_statements%') AS s"))  # not the report's own


def report(pg: PostgresProcess, out: Path, per: int, unit: str, limit: int = 40) -> str:
    """Writes the statements by total time, with their time per `unit` (`per` of them in the round), to
    `out`; returns its first lines."""
    rows = _rows(pg)
    total = sum(r["total_ms"] for r in rows) or 1.0
    planning = sum(r["plan_ms"] for r in rows)
    lines = [f"PostgreSQL statements during the round: {total / per:.2f} ms per {unit}, of which planning"
             f" {planning / per:.2f} ms ({len(rows)} statements); by total time:",
             f"{'share':>6}  {'ms/' + unit:>10}  {'calls/' + unit:>11}  {'ms/call':>8}  {'plan ms':>7}  {'plans':>5}"
             f"  {'rows/call':>9}  database  statement"]
    for r in rows[:limit]:
        query = " ".join(r["query"].split())
        calls = max(r["calls"], 1)
        lines.append(f"{r['total_ms'] / total:6.1%}  {r['total_ms'] / per:10.3f}  {r['calls'] / per:11.2f}"
                     f"  {r['total_ms'] / calls:8.3f}  {r['plan_ms'] / calls:7.3f}  {r['plans'] / calls:5.2f}"
                     f"  {r['rows'] / calls:9.1f}  {r['datname']:<8}  {query[:160]}")
    out.write_text("\n".join(lines) + "\n")
    return "\n".join(lines[:12])
