"""The scale section's table: each large data set's row right under its baseline's (the same call on the
small data set, measured in the same run, rounds alternating), the ratios on the large one's row."""

from __future__ import annotations

from typing import Any

from bench.common.report import cores_busy, fmt, render, server_roles, verdicts

UNITS = {"Kafka to log": "events/s", "GetInclusionProof": "proofs/s", "CheckConsent": "checks/s",
         "ListRequests": "pages/s"}


def _versus(d: dict[str, Any]) -> str:
    ratios = d.get("ratios", {})
    if not ratios:
        return "(baseline)"
    parts = [f"rate x{fmt(ratios.get('rps', {}).get('value'), '.2f')}"]
    if "p99_ms" in ratios and d["rpc"] != "Kafka to log":
        parts += [f"p50 x{fmt(ratios['p50_ms']['value'], '.2f')}", f"p99 x{fmt(ratios['p99_ms']['value'], '.2f')}"]
    paired = ratios.get("p99_ms" if d["rpc"] != "Kafka to log" else "rps", {}).get("paired_median")
    return ", ".join(parts) + (f" (paired {fmt(paired, '.2f')})" if paired is not None else "")


def table(docs: list[dict[str, Any]]) -> str:
    head = ["scenario", "n", "rate (median)", "p50 ms", "p99 ms", "vs baseline", "target", "ok", "srv cpu ms/item",
            "cores busy (median)"]
    rows: list[list[str]] = []
    for d in docs:
        m = d["medians"]
        rate = f"{fmt(m['rps'], ',.1f' if m['rps'] < 100 else ',.0f')} {UNITS.get(d['rpc'], 'calls/s')}"
        if d["rpc"] == "Kafka to log":
            rate += f" ({fmt(m.get('seconds'), '.1f')} s)"
        rows.append([d["name"], str(len(d["rounds"])), rate, fmt(m["p50_ms"], ".2f"), fmt(m["p99_ms"], ".2f"),
                     _versus(d), *verdicts(d), fmt(m["server_cpu_ms_per_call"], ".3f"),
                     cores_busy(d["rounds"], *dict.fromkeys(("gen", *server_roles(d["server"]))))])
    return render(head, rows)
