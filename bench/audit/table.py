"""The audit section's table: its figures are of different kinds (events/s to a signed checkpoint,
proofs per second and their latency, seconds to verify a log), so each row says what it counts."""

from __future__ import annotations

from typing import Any

from bench.common.report import cores_busy, fmt, render, server_roles, verdicts

UNITS = {"Kafka to log": "events/s", "GetInclusionProof": "proofs/s", "VerifyLog": "entries/s"}


def _figure(d: dict[str, Any]) -> str:
    m = d["medians"]
    rate = f"{fmt(m['rps'], ',.0f')} {UNITS.get(d['rpc'], 'calls/s')}"
    return f"{fmt(m['seconds'], '.1f')} s ({rate})" if d["rpc"] == "VerifyLog" else rate


def _versus(d: dict[str, Any]) -> str:
    ratios = d.get("ratios", {})
    parts = [f"x{fmt(ratios.get('rps', {}).get('value'), '.2f')} rate"] if ratios else []
    if d["rpc"] == "GetInclusionProof" and ratios:
        parts.append(f"p99 x{fmt(ratios.get('p99_ms', {}).get('value'), '.2f')}")
    return ", ".join(parts)


def table(docs: list[dict[str, Any]]) -> str:
    head = ["scenario", "n", "figure (median)", "p50 ms", "p99 ms", "vs baseline", "target", "ok", "srv cpu ms/item",
            "cores busy (median)"]
    rows: list[list[str]] = []
    for d in docs:
        m = d["medians"]
        roles = dict.fromkeys(("gen", *server_roles(d["server"])))
        rows.append([d["name"], str(len(d["rounds"])), _figure(d), fmt(m["p50_ms"], ".2f"), fmt(m["p99_ms"], ".2f"),
                     _versus(d), *verdicts(d), fmt(m["server_cpu_ms_per_call"], ".3f"),
                     cores_busy(d["rounds"], *roles)])
        if "proof_bytes_max" in m:
            message = f"; message {fmt(m['response_bytes_max'], ',.0f')} B" if m.get("response_bytes_max") else ""
            rows.append([f"  = proof bytes (largest{message})", "",
                         fmt(m["proof_bytes_max"], ",.0f"), *[""] * (len(head) - 3)])
        if "checkpoints" in m:
            rows.append(["  = seconds per round (checkpoints)", "",
                         f"{fmt(m['seconds'], '.2f')} s ({fmt(m['checkpoints'], '.0f')})", *[""] * (len(head) - 3)])
        elif d["rpc"] == "Kafka to log":
            rows.append(["  = seconds per round", "", f"{fmt(m['seconds'], '.2f')} s", *[""] * (len(head) - 3)])
    return render(head, rows)
