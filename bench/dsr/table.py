"""The dsr section's table: seconds for many deletions and deletions per second, the latency of one
deletion, CPU per deletion of every process involved; no baseline, targets are absolute."""

from __future__ import annotations

import statistics
from typing import Any

from bench.common.kafka_tls import PLAIN, SECURED
from bench.common.report import cores_busy, fmt, render, server_roles, verdicts


def _cpu_seconds(rounds: list[dict[str, Any]]) -> str:
    """Median CPU seconds per process over the rounds, largest first (main threads left out)."""
    roles = [k for k in rounds[0].get("cpu_seconds", {}) if "/" not in k] if rounds else []
    med = {role: statistics.median(r["cpu_seconds"][role] for r in rounds if role in r.get("cpu_seconds", {}))
           for role in roles}
    return ", ".join(f"{role} {v:.1f}" for role, v in sorted(med.items(), key=lambda kv: -kv[1]))


def table(docs: list[dict[str, Any]]) -> str:
    head = ["scenario", "n", "figure (median)", "p50 ms", "p99 ms", "target", "ok", "srv cpu ms/deletion",
            "cores busy (median)"]
    rows: list[list[str]] = []
    blank = [""] * (len(head) - 3)
    for d in docs:
        m = d["medians"]
        bulk = "seconds" in m
        compared = d["name"].endswith((SECURED, PLAIN))  # the Kafka comparison: its own table has the ratios
        figure = (f"{fmt(m['seconds'], ',.1f')} s ({fmt(m['rps'], ',.1f')} deletions/s)" if bulk
                  else f"{fmt(m['rps'], ',.2f')} deletions/s")
        roles = dict.fromkeys(("gen", *server_roles(d["server"])))
        rows.append([d["name"], str(len(d["rounds"])), figure, fmt(m["p50_ms"], ",.0f"), fmt(m["p99_ms"], ",.0f"),
                     verdicts(d)[0] or "-", verdicts(d)[1],
                     fmt(m["server_cpu_ms_per_call"], ",.1f"), cores_busy(d["rounds"], *roles)])
        if bulk and not compared:
            rows.append(["  = s per 10,000" + (" (extrapolated)" if d["rounds"] and d["rounds"][0]["requests"] != 10_000
                                               else ""), "", f"{fmt(m['seconds_per_10k'], ',.1f')} s", *blank])
            rows.append(["  = last COMPLETED seen by the poller", "", f"{fmt(m['seen_seconds'], ',.1f')} s", *blank])
            rows.append(["  = submitted + verified", "", f"{fmt(m['submit_seconds'], ',.1f')} s"
                         f" ({fmt(m['submit_rps'], ',.0f')} pairs/s, p99 {fmt(m['submit_p99_ms'], ',.0f')} ms)", *blank])
            rows.append(["  = tasks re-sent; GetRequest per request", "",
                         f"{fmt(m['resent_tasks'], ',.0f')}; {fmt(m['polls_per_request'], '.2f')}", *blank])
        rows.append(["  = p50 own part / processors (ms)", "",
                     f"{fmt(m.get('own_part_p50_ms'), ',.0f')} / {fmt(m.get('processors_p50_ms'), ',.0f')}", *blank])
        if bulk and not compared:
            rows.append(["  = cpu s per process", "", _cpu_seconds(d["rounds"]), *blank])
    return render(head, rows, spills=lambda r: r[0].startswith("  = cpu"))
