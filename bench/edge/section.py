"""The edge section: consent enforced at the gate's edge (consentry_client.edge).

- Template opens in one gate process (the load generator, as the gate `bench-gate` of the benchmark's
  controller): TemplateCipher with an EdgeView, whose uses are each accounted to keyvault before the
  template is returned, against the same cipher asking DecryptDataKey for every open, rounds alternating.
- Withdrawal to refusal: `gates` gate processes keep opening their templates from memory; the
  consents are withdrawn one by one; each gate notes when an open of each is first refused. The
  figure is the time from sending WithdrawConsent to that refusal, over every gate and consent.
- One more gate whose WatchConsents goes silent (a stalling proxy) once it is warm: the same figure,
  against its silence bound.
"""

from __future__ import annotations

import math
import multiprocessing
from dataclasses import asdict, dataclass, replace
from typing import Any

from bench.common.consents import grant_all, setup_purpose
from bench.common.load import Target, percentile
from bench.common.processes import keyvault_role
from bench.common.report import Goal, Scenario, fmt, render, verdicts
from bench.common.rounds import run_interleaved
from bench.common.section import Results, Section
from bench.common.stack import Stack, settle, start_keyvault
from bench.edge.opens import OpensSpec, run_opens_round, seal_templates
from bench.edge.withdrawals import GateSpec, gate_main, withdraw_all

NAME = "edge"
GATE_CLIENT = "bench-gate"  # the benchmark policy's face system (bench/common/stack.py)


@dataclass(frozen=True)
class Sizes:
    rounds: int = 3
    duration_s: float = 5.0
    warmup_s: float = 1.5
    concurrency: int = 64  # per-call DecryptDataKey in flight (the keyvault section's)
    edge_concurrency: int = 64  # opens in flight with the EdgeView
    gallery: int = 100  # templates per open_many call (a probe matched against a gallery)
    gallery_concurrency: int = 16
    templates: int = 1_000  # enrolled subjects the opens pick from at random
    gates: int = 10  # gates connected during the withdrawals
    withdrawals: int = 10  # consents withdrawn per round, each held by every gate
    spacing_s: float = 0.3  # between two withdrawals
    silence_bound_s: float = 2.0  # EdgeView's default


QUICK = Sizes(rounds=2, duration_s=1.5, warmup_s=0.5, templates=200, gates=4, withdrawals=5)


def _subject(kind: str, i: int) -> str:
    return f"edge-{kind}-{i:06d}"


def _gate_targets(s: Stack) -> tuple[Target, Target]:
    files = s.ca.issue_client(GATE_CLIENT)
    tls = (s.ca.ca.cert, files.cert, files.key)
    return Target(s.consent.port, tls), Target(s.keyvaults["wrapped"].port, tls)


def _opens(s: Stack, sizes: Sizes, templates: tuple) -> list[tuple[Scenario, OpensSpec]]:
    consent, keyvault = _gate_targets(s)
    spec = OpensSpec(consent, keyvault, False, templates, concurrency=sizes.concurrency, duration_s=sizes.duration_s,
                     warmup_s=sizes.warmup_s)
    note = (f"one gate process, opens over {sizes.templates:,} templates (512 bytes) at random, {sizes.concurrency} in"
            f" flight per call, {sizes.edge_concurrency} with the EdgeView, each of whose uses is covered by a durable,"
            " checked account at keyvault (RecordReleases, one per key and second) before it is answered")
    base = Scenario("template open per-call DecryptDataKey", "DecryptDataKey", f"gen+{keyvault_role('wrapped')}",
                    section=NAME, unit="opens", note=note)
    edge = Scenario("template open EdgeView", "EdgeView", f"gen+{keyvault_role('wrapped')}", base.name, section=NAME,
                    unit="opens", note=note, extra_medians=("uses_per_record_call",))
    gallery = Scenario(f"gallery of {sizes.gallery} EdgeView", "EdgeView", f"gen+{keyvault_role('wrapped')}", base.name,
                       section=NAME, unit="opens", decisions_per_call=sizes.gallery,
                       note=note + f"; {sizes.gallery} templates per open_many, {sizes.gallery_concurrency} in flight",
                       goals={"opens_per_s": Goal(">=", 50_000)}, ratio_goals={"opens_per_s": Goal(">=", 20)},
                       extra_medians=("uses_per_record_call",))
    return [(base, spec), (edge, replace(spec, edge=True, concurrency=sizes.edge_concurrency)),
            (gallery, replace(spec, edge=True, concurrency=sizes.gallery_concurrency, gallery=sizes.gallery))]


def _withdrawal_round(s: Stack, sizes: Sizes, round_no: int, templates: dict[str, bytes]) -> tuple[dict, dict]:
    consent, keyvault = _gate_targets(s)
    subjects = [_subject(f"wd{round_no}", i) for i in range(sizes.withdrawals)]
    held = tuple((subject, templates[subject]) for subject in subjects)
    deadline = sizes.withdrawals * sizes.spacing_s + 3 * sizes.silence_bound_s + 30
    specs = [GateSpec(f"gate-{i}", consent, keyvault, held, False, sizes.silence_bound_s, deadline)
             for i in range(sizes.gates)]
    specs.append(GateSpec("silent", consent, keyvault, held, True, sizes.silence_bound_s, deadline))
    context = multiprocessing.get_context("spawn")
    ready, results = context.Queue(), context.Queue()
    gates = [context.Process(target=gate_main, args=(spec, ready, results), daemon=True) for spec in specs]
    for gate in gates:
        gate.start()
    try:
        warm = dict(ready.get(timeout=120) for _ in gates)
        if any(kept != len(held) for kept in warm.values()):
            raise RuntimeError(f"gates not warm: {warm}")
        operator = s.consent.target
        asked = s.gen.apply(withdraw_all, (operator, subjects, sizes.spacing_s))
        found = {name: (refused, errors, missing) for name, refused, errors, missing in
                 (results.get(timeout=deadline + 60) for _ in gates)}
    finally:
        for gate in gates:
            gate.join(timeout=10)
            if gate.is_alive():
                gate.kill()
    connected = [name for name in found if name != "silent"]
    return (_latencies(found, connected, asked), _latencies(found, ["silent"], asked))


def _latencies(found: dict, names: list[str], asked: dict[str, float]) -> dict[str, Any]:
    ms = [1000 * (found[n][0][subject] - at) for n in names for subject, at in asked.items() if subject in found[n][0]]
    errors: dict[str, int] = {}
    for n in names:
        for kind, count in found[n][1].items():
            errors[kind] = errors.get(kind, 0) + count
        if found[n][2]:
            errors["never refused"] = errors.get("never refused", 0) + len(found[n][2])
    return {"rps": math.nan, "p50_ms": percentile(ms, 50), "p99_ms": percentile(ms, 99), "max_ms": max(ms, default=math.nan),
            "min_ms": min(ms, default=math.nan), "samples": len(ms), "errors": errors}


def run(s: Stack, sizes: Sizes) -> Results:
    start_keyvault(s, ["wrapped"])
    s.gen.apply(setup_purpose, (s.consent.target,))
    opens = [_subject("open", i) for i in range(sizes.templates)]
    withdrawn = [_subject(f"wd{r}", i) for r in range(sizes.rounds) for i in range(sizes.withdrawals)]
    granted = s.gen.apply(grant_all, (s.consent.target, opens + withdrawn, 64))
    if granted != len(opens) + len(withdrawn):
        raise RuntimeError(f"edge set-up: {granted} of {len(opens) + len(withdrawn)} consents granted")
    _, keyvault = _gate_targets(s)
    sealed = dict(s.gen.apply(seal_templates, (keyvault, opens + withdrawn)))
    settle(s)

    groups = _opens(s, sizes, tuple((subject, sealed[subject]) for subject in opens))
    print(f"template opens: {sizes.rounds} rounds of {sizes.warmup_s:g}s warm-up + {sizes.duration_s:g}s", flush=True)
    run_interleaved(s, groups, sizes.rounds, run_opens_round, after_round=_opens_extra)

    connected = Scenario(f"withdrawal to refused open, {sizes.gates} gates", "WithdrawConsent", "consent", section=NAME,
                         goals={"p99_ms": Goal("<=", 1000)}, extra_medians=("max_ms",),
                         note=f"{sizes.withdrawals} consents per round held by every gate; ms from sending"
                              " WithdrawConsent to the gate's first refused open (opens every 10 ms)")
    silent = Scenario("withdrawal to refused open, gate with a silent stream", "WithdrawConsent", "consent",
                      section=NAME, goals={"max_ms": Goal("<=", 1000 * sizes.silence_bound_s)},
                      extra_medians=("max_ms",),
                      note=f"its WatchConsents stalled once warm; silence bound {sizes.silence_bound_s:g}s")
    for i in range(sizes.rounds):
        settle(s)
        figures = _withdrawal_round(s, sizes, i, sealed)
        for scenario, r in zip((connected, silent), figures, strict=True):
            scenario.rounds.append(r)
            print(f"  {scenario.name} #{i + 1}: p50 {r['p50_ms']:.1f} ms  p99 {r['p99_ms']:.1f} ms"
                  f"  max {r['max_ms']:.1f} ms  ({r['samples']} refusals){_errors(r)}", flush=True)
    return Results([*(scenario for scenario, _ in groups), connected, silent], {},
                   {"edge": asdict(sizes)})


def _errors(r: dict[str, Any]) -> str:
    return f"  errors {r['errors']}" if r["errors"] else ""


def _opens_extra(scenario: Scenario, r: dict[str, Any]) -> str:
    if "uses_per_record_call" not in r:
        return ""
    return f"  {r['uses_per_record_call']:,.0f} uses per RecordReleases; {r['kept']:,} keys kept"


def table(docs: list[dict[str, Any]]) -> str:
    head = ["scenario", "n", "opens/s", "p50 ms", "p99 ms", "max ms", "x per-call", "uses/record", "target", "ok"]
    rows = []
    for d in docs:
        m, ratios = d["medians"], d.get("ratios", {})
        ratio = ratios.get("opens_per_s", ratios.get("rps", {})).get("value")
        rows.append([d["name"], str(len(d["rounds"])), fmt(m.get("opens_per_s", m["rps"]), ",.0f"),
                     fmt(m["p50_ms"], ".2f"), fmt(m["p99_ms"], ".2f"), fmt(m.get("max_ms"), ".1f"), fmt(ratio, ".1f"),
                     fmt(m.get("uses_per_record_call"), ",.0f"), *verdicts(d)])
    return render(head, rows)


SECTION = Section(NAME, Sizes(), QUICK, run, table)
