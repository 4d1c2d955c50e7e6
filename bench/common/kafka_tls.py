"""What Kafka over TLS with client certificates costs: a scenario on the secured broker beside the
same processes on a plaintext one, measured in the same run, rounds alternating.

Secured is the platform's default: every Kafka client (services, face gates, the benchmark's own
producers) reaches Tansu through its TLS front (stunnel) with a certificate of the run's CA, which the
front requires (mTLS). Plaintext is the same processes with `security_protocol` PLAINTEXT on a Tansu
without the front. What the secured side pays is the clients' TLS and the front: TLS termination plus
one more loopback hop, in a process of its own whose CPU is counted with the broker's. A production
Apache Kafka terminates TLS inside the broker, without the extra hop.

SCRAM (SASL_SSL) is not measured: Tansu cannot authenticate it (its memory storage keeps no SCRAM
user, so every login is "unknown-user"), and the front authenticates by certificate only. A SCRAM
login costs a few round trips and a password derivation per connection, not per message, on top of
the same TLS (reasoning, not a measurement).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

from bench.common.report import BROKER, cpu_ms_per_call, fmt, render, server_roles

SECURED, PLAIN = "Kafka TLS + client certificates", "plaintext Kafka"
SCRAM_NOTE = ("SCRAM (SASL_SSL) is not measured: Tansu keeps no SCRAM user in its memory storage (every login is"
              " unknown-user) and its TLS front authenticates by certificate only")
# (key in a scenario's medians and rounds, label; None: the pair's own unit)
METRICS = (("rps", None), ("seconds", "seconds per round"), ("p50_ms", "p50 ms"), ("p99_ms", "p99 ms"),
           ("processors_p50_ms", "p50 processors ms"), ("server_cpu_ms_per_call", "srv cpu ms/{item}"),
           ("broker_cpu_ms_per_call", "  of which broker ms/{item}"))


@dataclass(frozen=True)
class Pair:
    title: str
    secured: str  # the scenario on the secured broker
    plain: str  # the same processes' scenario on the plaintext broker; round i ran next to round i of `secured`
    unit: str  # what the scenario's rps counts, e.g. "events/s"
    figures: tuple[str, ...] = tuple(key for key, _ in METRICS)  # those worth comparing (if measured)


def _per_round(d: dict[str, Any], key: str) -> list[float]:
    if key.endswith("cpu_ms_per_call"):
        roles = server_roles(d["server"])
        # The broker's share (Tansu, and the front on the secured side) is the steadiest view of what the
        # front costs: the clients' TLS hides in the noise of the Python processes' CPU.
        roles = tuple(r for r in roles if r.startswith(BROKER)) if key.startswith("broker") else roles
        return [cpu_ms_per_call(r, roles) for r in d["rounds"]]
    return [math.nan if r.get(key) is None else r[key] for r in d["rounds"]]  # None: a saved result's NaN


def _median(values: list[float]) -> float:
    """Over the rounds, as the report's medians are."""
    values = [v for v in values if not math.isnan(v)]
    return statistics.median(values) if values else math.nan


def _ratio(a: float | None, b: float | None) -> float:
    return a / b if a is not None and b and not math.isnan(a) and not math.isnan(b) else math.nan


def compare(docs: list[dict[str, Any]], pairs: list[Pair]) -> list[dict[str, Any]]:
    """Per pair and figure: both medians, the ratio of the medians (secured / plain) and the median of
    the ratios of rounds run back to back."""
    by_name = {d["name"]: d for d in docs}
    found = []
    for pair in pairs:
        secured, plain = by_name.get(pair.secured), by_name.get(pair.plain)
        if secured is None or plain is None:
            continue
        figures = {}
        for key in pair.figures:
            ours, theirs = _per_round(secured, key), _per_round(plain, key)
            a, b = _median(ours), _median(theirs)
            if math.isnan(a) and math.isnan(b):
                continue
            paired = [_ratio(x, y) for x, y in zip(ours, theirs, strict=False)]
            figures[key] = {"secured": a, "plain": b, "ratio": _ratio(a, b), "paired_median": _median(paired),
                            "rounds": {"secured": ours, "plain": theirs}}
        found.append({"title": pair.title, "unit": pair.unit, "secured": pair.secured, "plain": pair.plain,
                      "rounds": min(len(secured["rounds"]), len(plain["rounds"])), "figures": figures,
                      "note": f"secured = {SECURED} (the TLS front, stunnel, counted with the broker); plain = the"
                              f" same processes on a plaintext Tansu; ratio = secured / plain. {SCRAM_NOTE}"})
    return found


def _num(value: float) -> str:
    return fmt(value, ",.0f" if abs(value) >= 100 else ".2f" if abs(value) >= 1 else ".3f")


def table(comparisons: list[dict[str, Any]]) -> str:
    head = ["comparison", "figure (median)", "n", SECURED, PLAIN, "secured/plain", "paired median"]
    rows: list[list[str]] = []
    for c in comparisons:
        item = c["unit"].removesuffix("/s").rstrip("s") or "item"
        for i, (key, label) in enumerate((k, lab) for k, lab in METRICS if k in c["figures"]):
            f = c["figures"][key]
            rows.append([c["title"] if i == 0 else "", (label or c["unit"]).format(item=item),
                         str(c["rounds"]) if i == 0 else "", _num(f["secured"]), _num(f["plain"]),
                         fmt(f["ratio"], ".3f"), fmt(f["paired_median"], ".3f")])
    return "\n".join([render(head, rows), "", "secured/plain above 1: TLS costs time or CPU; below 1 on a rate: it"
                                               " costs throughput. " + SCRAM_NOTE + "."])
