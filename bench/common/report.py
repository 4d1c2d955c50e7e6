"""Turns measured rounds into the results document (JSON), and the plain-text table most sections use.

Headline figures are medians over rounds, and every service figure is also given as a ratio to the
baseline measured in the same run (the echo server for consent, raw Vault transit calls for the
keyvault, a naive consumer and the bare store for audit): on a shared machine the ratio is the
stable number.
"""

from __future__ import annotations

import json
import math
import operator
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

_OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}


@dataclass(frozen=True)
class Goal:
    op: str  # ">=", "<=", ">" or "<"
    value: float

    def check(self, measured: float) -> bool:
        return not math.isnan(measured) and _OPS[self.op](measured, self.value)

    def __str__(self) -> str:
        return f"{self.op} {self.value:g}"


@dataclass
class Scenario:
    name: str
    rpc: str
    # A role: "consent", "echo-mtls", "echo-insecure", "keyvault[-<backend>]", "openbao", "audit[-proofs]",
    # or roles joined by "+" ("gen+postgres": a baseline that runs in the load generator).
    server: str
    baseline: str | None = None  # name of the baseline scenario measured alongside
    decisions_per_call: int = 1  # items per call (decisions, keys): medians gain "<unit>_per_s"
    ratio_goals: dict[str, Goal] = field(default_factory=dict)  # metric -> goal on service/baseline
    goals: dict[str, Goal] = field(default_factory=dict)  # metric -> goal on the median itself
    rounds: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""
    section: str = "consent"
    unit: str = "decisions"
    extra_medians: tuple[str, ...] = ()  # further per-round figures to take the median of


def _median(rounds: list[dict[str, Any]], key: str) -> float:
    values = [r[key] for r in rounds if not math.isnan(r[key])]
    return statistics.median(values) if values else math.nan


def _ratio(a: float, b: float) -> float:
    return a / b if b and not math.isnan(a) and not math.isnan(b) else math.nan


# The shared broker: Tansu and its TLS front (stunnel), which does the TLS of every Kafka client.
BROKER = ("tansu", "stunnel")


def server_roles(server: str) -> tuple[str, ...]:
    """The processes that serve a scenario's calls: the consent service needs its database and broker;
    the keyvault those, the consent service (its gate) and OpenBao. Raw transit calls are made by
    the generator (its CPU is reported apart), served by OpenBao alone. The audit sequencer also
    uses the keyvault (subject references) and OpenBao (signatures); the audit process serving
    proofs only PostgreSQL. A baseline that runs in the generator names its roles joined by "+"."""
    if "+" in server:
        return tuple(server.split("+"))
    if server == "audit":
        return ("audit", "postgres", *BROKER, "keyvault", "consent", "openbao")
    if server.startswith("audit-"):
        return (server, "postgres")
    if server == "consent":
        return ("consent", "postgres", *BROKER)
    if server.startswith("keyvault"):
        return (server, "consent", "postgres", *BROKER, "openbao")
    return (server,)


def cpu_ms_per_call(r: dict[str, Any], roles: tuple[str, ...]) -> float:
    cores = r.get("cpu_cores", {})
    if not r["rps"] or not all(role in cores for role in roles):
        return math.nan
    return 1000 * sum(cores[role] for role in roles) / r["rps"]


def medians(s: Scenario) -> dict[str, float]:
    m = {key: _median(s.rounds, key) for key in ("rps", "p50_ms", "p99_ms")}
    # CPU per call is steadier than throughput on a shared machine: it does not depend on how much
    # CPU the neighbours left us, only on how much work each call takes.
    for name, roles in (("server_cpu_ms_per_call", server_roles(s.server)), ("gen_cpu_ms_per_call", ("gen",))):
        values = [v for v in (cpu_ms_per_call(r, roles) for r in s.rounds) if not math.isnan(v)]
        m[name] = statistics.median(values) if values else math.nan
    if s.decisions_per_call > 1:
        m[f"{s.unit}_per_s"] = m["rps"] * s.decisions_per_call
    for key in s.extra_medians:
        values = [r[key] for r in s.rounds if key in r and not math.isnan(r[key])]
        m[key] = statistics.median(values) if values else math.nan
    return m


def _goal_entry(value: float, goal: Goal | None, **extra: float) -> dict[str, Any]:
    return {"value": value, **extra, "target": str(goal) if goal else None,
            "pass": goal.check(value) if goal else None}


def scenario_doc(s: Scenario, by_name: dict[str, Scenario]) -> dict[str, Any]:
    doc: dict[str, Any] = {"name": s.name, "section": s.section, "rpc": s.rpc, "server": s.server,
                           "baseline": s.baseline, "rounds": s.rounds}
    if s.decisions_per_call > 1:
        doc[f"{s.unit}_per_call"] = s.decisions_per_call
    if s.note:
        doc["note"] = s.note
    mine = doc["medians"] = medians(s)
    if s.baseline:
        base = by_name[s.baseline]
        theirs = medians(base)
        doc["ratios"] = {}
        # Calls that carry different numbers of items (e.g. 1,000 subjects per EnsureSubjectKeys, 250
        # plaintexts per raw transit batch) compare by items per second; their latencies and CPU per
        # call do not compare at all.
        scale = s.decisions_per_call / base.decisions_per_call
        keys = ("rps", "p50_ms", "p99_ms") if scale == 1 else ("rps",)
        for key in keys:
            name = key if scale == 1 else f"{s.unit}_per_s"
            # Rounds alternate with the baseline's, so round i of each forms a pair measured back to back.
            paired = [_ratio(a[key] * scale, b[key]) for a, b in zip(s.rounds, base.rounds, strict=False)]
            paired = [p for p in paired if not math.isnan(p)]
            doc["ratios"][name] = _goal_entry(_ratio(mine[key] * scale, theirs[key]), s.ratio_goals.get(name),
                                              paired_median=statistics.median(paired) if paired else math.nan)
        if scale == 1:
            key = "server_cpu_ms_per_call"
            doc["ratios"][key] = _goal_entry(_ratio(mine[key], theirs[key]), None)
    if s.goals:
        doc["targets"] = {key: _goal_entry(mine[key], goal) for key, goal in s.goals.items()}
    return doc


def build(scenarios: list[Scenario], *, started: datetime, machine: dict[str, Any], config: dict[str, Any],
          extra: dict[str, Any]) -> dict[str, Any]:
    by_name = {s.name: s for s in scenarios}
    docs = [scenario_doc(s, by_name) for s in scenarios]

    def verdicts(section: str | None) -> list[bool]:
        return [e["pass"] for d in docs if section in (None, d["section"])
                for group in ("ratios", "targets") for e in d.get(group, {}).values() if e["pass"] is not None]

    sections = {name: {"all_targets_met": all(verdicts(name)),
                       # a round's calls answered wrongly or failed (a deletion not COMPLETED, a proof that
                       # does not verify, ...): the run did not do the work its figures claim
                       "errors": sum(sum(r["errors"].values()) for d in docs if d["section"] == name
                                     for r in d["rounds"])}
                for name in dict.fromkeys(d["section"] for d in docs)}
    return {"timestamp": started.isoformat().replace("+00:00", "Z"), "machine": machine, "config": config,
            **extra, "scenarios": docs, "sections": sections, "all_targets_met": all(verdicts(None))}


def _json_safe(value: Any) -> Any:
    """NaN is not JSON: write null instead; 4 decimals are more than the noise allows."""
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 4)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def write(doc: dict[str, Any], results_dir: Path, started: datetime) -> Path:
    results_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(_json_safe(doc), indent=2, allow_nan=False) + "\n"
    path = results_dir / f"{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(text)
    (results_dir / "latest.json").write_text(text)
    return path


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


INFRA = ("postgres", "tansu", "stunnel", "openbao")  # not Python: no event loop in a main thread to watch


def cores_busy(rounds: list[dict[str, Any]], *roles: str) -> str:
    """Median cores busy per role over the rounds, e.g. "gen 0.90 consent 1.05 (main 0.82)"."""

    def med(role: str) -> float | None:
        values = [r["cpu_cores"][role] for r in rounds if role in r.get("cpu_cores", {})]
        return statistics.median(values) if values else None

    parts = []
    for role in roles:
        total, main = med(role), med(f"{role}/main")
        if total is not None:
            parts.append(f"{role} {total:.2f}" + (f" (main {main:.2f})" if main is not None and not role.startswith(INFRA) else ""))
    return " ".join(parts)


def render(head: list[str], rows: list[list[str]], spills: Callable[[list[str]], bool] | None = None) -> str:
    """A plain-text table, columns as wide as their widest cell; rows for which `spills` is true (a long
    line of text) run past the columns instead of widening them."""
    fitted = [head, *(r for r in rows if not (spills and spills(r)))]
    widths = [max(len(r[i]) for r in fitted) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [head, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def verdicts(d: dict[str, Any], base: str = "base") -> tuple[str, str]:
    """A scenario's targets ("rps/<base> >= 5, p99_ms < 5") and their verdicts ("FAIL PASS")."""
    checks = [(k + (f"/{base}" if group == "ratios" else ""), e) for group in ("ratios", "targets")
              for k, e in d.get(group, {}).items() if e["target"]]
    return (", ".join(f"{k} {e['target']}" for k, e in checks),
            " ".join("PASS" if e["pass"] else "FAIL" for _, e in checks))


def section_table(docs: list[dict[str, Any]], base: str = "base", vault: bool = False) -> str:
    """Rows of scenarios measured beside a baseline in closed-loop rounds (consent, keyvault). `base`
    names the baseline in the ratio columns. With `vault` (keyvault): Vault requests per call instead of
    a latency ratio, since the baseline runs fewer calls in flight (threads) and in a closed loop
    latency is concurrency / throughput: a latency ratio would compare concurrencies."""
    head = ["scenario", "n", "rps", "p50 ms", "p99 ms", f"rps/{base}",
            *(["vault req/call"] if vault else [f"p99/{base}"]), "target", "ok", "srv cpu ms/call",
            "cores busy (median)"]
    rows: list[list[str]] = []
    blank = [""] * (len(head) - 3)
    for d in docs:
        m, ratios = d["medians"], d.get("ratios", {})
        rows.append([d["name"], str(len(d["rounds"])), fmt(m["rps"], ",.0f"), fmt(m["p50_ms"], ".2f"),
                     fmt(m["p99_ms"], ".2f"), fmt(ratios.get("rps", {}).get("value"), ".3f"),
                     fmt(m.get("vault_requests_per_call"), ".3f") if vault
                     else fmt(ratios.get("p99_ms", {}).get("value"), ".2f"), *verdicts(d, base),
                     fmt(m["server_cpu_ms_per_call"], ".3f"), cores_busy(d["rounds"], "gen", *server_roles(d["server"]))])
        for unit in ("decisions", "keys"):
            if f"{unit}_per_s" in m:
                # Where calls of service and baseline carry different numbers of items, the ratio is per item.
                per_item = ratios.get(f"{unit}_per_s", {}).get("value")
                rows.append([f"  = {unit}/s (x{d[f'{unit}_per_call']})", "", fmt(m[f"{unit}_per_s"], ",.0f"), "", "",
                             fmt(per_item, ".3f") if per_item is not None else "", *[""] * (len(head) - 6)])
        if "seconds" in m:
            keys = statistics.median(r["keys"] for r in d["rounds"])
            rows.append([f"  = seconds for {keys:,.0f} keys", "", fmt(m["seconds"], ".1f"), *blank])
            if keys != 100_000:
                rows.append(["  = s per 100,000 (extrapolated)", "", fmt(m["seconds_per_100k"], ".1f"), *blank])
    return render(head, rows)
