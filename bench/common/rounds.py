"""Rounds as every section runs them: each in the load-generator process, once the previous round's
background work is done (`measure`), and rounds alternating between a scenario and its baseline
(`run_interleaved`), so that slow drifts in machine load hit both alike."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from bench.common.load import CALL_TIMEOUT_S
from bench.common.profiling import profiled
from bench.common.report import Scenario
from bench.common.stack import Stack, settle

Runner = Callable[[Any], dict[str, Any]]  # a generator entry point: a round's spec -> its figures
Groups = list[tuple[Scenario, Any]]  # scenarios and the specs of their rounds, measured side by side
AfterRound = Callable[[Scenario, dict[str, Any]], str]  # what to print after a round's line


def measure(s: Stack, spec: Any, runner: Runner, max_s: float | None = None) -> dict[str, Any]:
    """One round in the generator process, once the previous round's background work is done.
    `runner` is the generator's entry point for `spec`; `max_s` bounds a count-bounded round."""
    settle(s)
    spec = replace(spec, cpu_roots=s.pids)
    timeout = max_s if max_s is not None else spec.warmup_s + spec.duration_s + 2 * CALL_TIMEOUT_S + 30
    return s.gen.apply_async(runner, (spec,)).get(timeout=timeout)


def line(name: str, r: dict[str, Any]) -> str:
    errors = f"  errors {r['errors']}" if r["errors"] else ""
    return f"  {name:<42} {r['rps']:>9,.0f} rps  p50 {r['p50_ms']:7.2f} ms  p99 {r['p99_ms']:7.2f} ms{errors}"


def run_interleaved(s: Stack, groups: Groups, rounds: int, runner: Runner, max_s: float | None = None,
                    after_round: AfterRound | None = None) -> None:
    """Round i of every scenario runs back to back before round i+1 of any, so slow drifts in machine
    load hit baseline and service alike; pairs of rounds are then directly comparable."""
    for i in range(rounds):
        for scenario, spec in groups:
            spec_i = replace(spec, rng_seed=i, subject_prefix=f"{spec.subject_prefix}r{i}-")
            result = measure(s, spec_i, runner, max_s)
            scenario.rounds.append(result)
            extra = after_round(scenario, result) if after_round else ""
            print(line(f"{scenario.name} #{i + 1}", result) + extra, flush=True)


def profile_round(s: Stack, scenario: Scenario, spec: Any, seconds: float, runner: Runner,
                  max_s: float | None = None, after_round: AfterRound | None = None) -> dict[str, Any]:
    """One more round of `scenario` (--profile) with py-spy attached to its server for `seconds`,
    outside the medians; the round's figures and where the profile went."""
    assert s.profile_dir is not None
    settle(s)
    out = s.profile_dir / f"{scenario.name.replace(' ', '-')}.collapsed"
    print(f"profiling the server during {scenario.name} ...", flush=True)
    result, summary = profiled(s.pids[scenario.server], seconds, out, lambda: measure(s, spec, runner, max_s))
    print(line(f"{scenario.name} (profiled)", result) + (after_round(scenario, result) if after_round else ""),
          flush=True)
    print(summary.split("own time by function:")[0], flush=True)  # the rest is in the .txt file
    return {"name": scenario.name, "round": result, "collapsed": str(out), "summary": str(out.with_suffix(".txt"))}
