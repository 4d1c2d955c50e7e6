"""The consent section: CheckConsent, CheckConsents and GrantConsent against the consent service and
a bare gRPC echo server (mTLS, and plaintext for reference), rounds alternating."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench.consent_scenarios import RoundSpec, setup_purpose
from bench.harness import Groups, Stack, line, measure, run_interleaved, settle
from bench.profiling import profiled
from bench.report import Goal, Scenario
from services.consent.settings import ConsentSettings

SECTION = "consent"


@dataclass(frozen=True)
class Config:
    rounds: int = 3
    duration_s: float = 5.0
    warmup_s: float = 1.5
    concurrency: int = 64
    batch_concurrency: int = 64
    batch_size: int = 100
    subjects: int = 10_000
    unknown_share: float = 0.1


QUICK = Config(rounds=2, duration_s=1.5, warmup_s=0.5, subjects=2_000)


def seed(s: Stack, cfg: Config) -> dict[str, Any]:
    """Registers the purpose and grants consent to `cfg.subjects` subjects, one pass at full concurrency."""
    s.gen.apply(setup_purpose, (s.consent.target,))
    print(f"seeding {cfg.subjects:,} subjects with GrantConsent ({cfg.concurrency} in flight) ...", flush=True)
    result = measure(s, RoundSpec("seed", s.consent.target, concurrency=cfg.concurrency, duration_s=600,
                                  warmup_s=0, seeded_subjects=cfg.subjects))
    print(line("seed GrantConsent (one pass)", result), flush=True)
    if result["errors"] or result["calls"] != cfg.subjects:
        raise RuntimeError(f"seeding failed: {result['calls']} of {cfg.subjects} granted, errors {result['errors']}")
    settle(s)
    s.pg.execute("VACUUM ANALYZE", database="consent")  # fresh statistics: the plan must not change mid-run
    return result


def plan(s: Stack, cfg: Config) -> list[tuple[str, Groups]]:
    """Per RPC, the echo baseline and the consent service (plus, for CheckConsent, plaintext echo)."""
    assert s.echo_mtls is not None and s.echo_plain is not None
    common = dict(concurrency=cfg.concurrency, duration_s=cfg.duration_s, warmup_s=cfg.warmup_s,
                  seeded_subjects=cfg.subjects, unknown_share=cfg.unknown_share)

    def pair(rpc: str, kind: str, n: int = 1, note: str = "", **goals: Any) -> Groups:
        spec = RoundSpec(kind, s.echo_mtls.target, **common)
        if n > 1:
            spec = replace(spec, batch_size=n, concurrency=cfg.batch_concurrency)
        echo = Scenario(f"{rpc} echo mTLS", rpc, "echo-mtls", decisions_per_call=n)
        consent = Scenario(f"{rpc} consent", rpc, "consent", echo.name, n, note=note, **goals)
        return [(echo, spec), (consent, replace(spec, target=s.consent.target))]

    check = pair("CheckConsent", "check", ratio_goals={"rps": Goal(">=", 0.8), "p99_ms": Goal("<=", 1.5)})
    plain = Scenario("CheckConsent echo plaintext", "CheckConsent", "echo-insecure", check[0][0].name,
                     note="reference: the same echo server without TLS")
    check.append((plain, replace(check[0][1], target=s.echo_plain.target)))
    return [
        ("CheckConsent", check),
        ("CheckConsents", pair("CheckConsents", "check_batch", cfg.batch_size,
                               goals={"decisions_per_s": Goal(">=", 20_000)})),
        ("GrantConsent", pair("GrantConsent", "grant", note="a new subject per call",
                              goals={"rps": Goal(">=", 1_000)})),
    ]


def run_all(s: Stack, cfg: Config) -> tuple[Groups, dict[str, Any]]:
    seeded = seed(s, cfg)
    groups: Groups = []
    for title, group in plan(s, cfg):
        print(f"{title}: {cfg.rounds} rounds of {cfg.warmup_s:g}s warm-up + {cfg.duration_s:g}s", flush=True)
        run_interleaved(s, group, cfg.rounds)
        groups += group
    return groups, {"seed": seeded}


def profile_servers(s: Stack, groups: Groups, folder: Path) -> list[dict[str, Any]]:
    """One extra round per consent scenario with py-spy attached to the consent server, and one of the
    CheckConsent echo baseline, to tell gRPC's own share from the service's."""
    found = []
    for scenario, spec in groups:
        if scenario.server != "consent" and scenario.name != "CheckConsent echo mTLS":
            continue
        settle(s)
        out = folder / f"{scenario.name.replace(' ', '-')}.collapsed"
        spec = replace(spec, subject_prefix="grant-profiled-")
        print(f"profiling the server during {scenario.name} ...", flush=True)
        result, summary = profiled(s.pids[scenario.server], spec.warmup_s + spec.duration_s + 1, out,
                                   lambda spec=spec: measure(s, spec))
        print(line(f"{scenario.name} (profiled)", result), flush=True)
        print(summary.split("own time by function:")[0], flush=True)  # the rest is in the .txt file
        found.append({"name": scenario.name, "round": result, "collapsed": str(out),
                      "summary": str(out.with_suffix(".txt"))})
    return found


def consent_config() -> dict[str, Any]:
    """The service settings that shape its throughput (the benchmark leaves them at their defaults)."""
    fields = ConsentSettings.model_fields
    return {"pool_min_size": fields["pool_min_size"].default, "pool_max_size": fields["pool_max_size"].default,
            "transport": "mTLS", "log_level": "WARNING", "trace_exporter": "none", "expiry_interval_s": 3600}
