"""The consent section: CheckConsent, CheckConsents and GrantConsent against the consent service and
a bare gRPC echo server (mTLS, and plaintext for reference), rounds alternating."""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, replace
from typing import Any

from bench.common.consents import setup_purpose
from bench.common.processes import GrpcServerProcess
from bench.common.report import Goal, Scenario, section_table
from bench.common.rounds import Groups, line, measure, profile_round, run_interleaved
from bench.common.section import Results, Section
from bench.common.stack import Stack, settle
from bench.consent.calls import RoundSpec, run_round

NAME = "consent"


@dataclass(frozen=True)
class Sizes:
    rounds: int = 3
    duration_s: float = 5.0
    warmup_s: float = 1.5
    concurrency: int = 64
    batch_concurrency: int = 64
    batch_size: int = 100
    subjects: int = 10_000
    unknown_share: float = 0.1


QUICK = Sizes(rounds=2, duration_s=1.5, warmup_s=0.5, subjects=2_000)


def start_echo(s: Stack, name: str, tls: bool) -> GrpcServerProcess:
    """`python -m bench.consent.echo`: with the services' mTLS set-up (same CA, client certificate
    required), or plaintext; on the event loop the services run on."""
    args = ["bench.consent.echo", "--port", "{port}", "--event-loop", s.event_loop]
    args += ["--tls", *map(str, s.server_tls)] if tls else []
    proc = GrpcServerProcess(s.run_dir / name, name, args, s.client_tls if tls else None)
    s.on_exit(proc.stop)
    proc.start()
    assert proc.pid is not None
    s.pids[name] = proc.pid
    return proc


def seed(s: Stack, sizes: Sizes) -> dict[str, Any]:
    """Registers the purpose and grants consent to `sizes.subjects` subjects, one pass at full concurrency."""
    s.gen.apply(setup_purpose, (s.consent.target,))
    print(f"seeding {sizes.subjects:,} subjects with GrantConsent ({sizes.concurrency} in flight) ...", flush=True)
    result = measure(s, RoundSpec("seed", s.consent.target, concurrency=sizes.concurrency, duration_s=600,
                                  warmup_s=0, seeded_subjects=sizes.subjects), run_round)
    print(line("seed GrantConsent (one pass)", result), flush=True)
    if result["errors"] or result["calls"] != sizes.subjects:
        raise RuntimeError(f"seeding failed: {result['calls']} of {sizes.subjects} granted, errors {result['errors']}")
    settle(s)
    s.pg.execute("VACUUM ANALYZE", database="consent")  # fresh statistics: the plan must not change mid-run
    return result


def plan(s: Stack, sizes: Sizes) -> list[tuple[str, Groups]]:
    """Per RPC, the echo baseline and the consent service (plus, for CheckConsent, plaintext echo)."""
    echo_mtls, echo_plain = start_echo(s, "echo-mtls", tls=True), start_echo(s, "echo-insecure", tls=False)
    common = dict(concurrency=sizes.concurrency, duration_s=sizes.duration_s, warmup_s=sizes.warmup_s,
                  seeded_subjects=sizes.subjects, unknown_share=sizes.unknown_share)

    def pair(rpc: str, kind: str, n: int = 1, note: str = "", **goals: Any) -> Groups:
        spec = RoundSpec(kind, echo_mtls.target, **common)
        if n > 1:
            spec = replace(spec, batch_size=n, concurrency=sizes.batch_concurrency)
        echo = Scenario(f"{rpc} echo mTLS", rpc, "echo-mtls", decisions_per_call=n)
        consent = Scenario(f"{rpc} consent", rpc, "consent", echo.name, n, note=note, **goals)
        return [(echo, spec), (consent, replace(spec, target=s.consent.target))]

    check = pair("CheckConsent", "check", ratio_goals={"rps": Goal(">=", 0.9), "p99_ms": Goal("<=", 1.3)})
    plain = Scenario("CheckConsent echo plaintext", "CheckConsent", "echo-insecure", check[0][0].name,
                     note="reference: the same echo server without TLS")
    check.append((plain, replace(check[0][1], target=echo_plain.target)))
    return [
        ("CheckConsent", check),
        ("CheckConsents", pair("CheckConsents", "check_batch", sizes.batch_size,
                               goals={"decisions_per_s": Goal(">=", 20_000)})),
        ("GrantConsent", pair("GrantConsent", "grant", note="a new subject per call",
                              goals={"rps": Goal(">=", 1_000)})),
    ]


def run(s: Stack, sizes: Sizes) -> Results:
    seeded = seed(s, sizes)
    groups: Groups = []
    for title, group in plan(s, sizes):
        print(f"{title}: {sizes.rounds} rounds of {sizes.warmup_s:g}s warm-up + {sizes.duration_s:g}s", flush=True)
        run_interleaved(s, group, sizes.rounds, run_round)
        groups += group
    found: dict[str, Any] = {"seed": seeded}
    if s.profile_dir:
        found["profiles"] = profile(s, groups)
    return Results([scenario for scenario, _ in groups], found, asdict(sizes))


def profile(s: Stack, groups: Groups) -> list[dict[str, Any]]:
    """One extra round per consent scenario with py-spy attached to the consent server, and one of the
    CheckConsent echo baseline, to tell gRPC's own share from the service's."""
    return [profile_round(s, scenario, replace(spec, subject_prefix="grant-profiled-"),
                          spec.warmup_s + spec.duration_s + 1, run_round)
            for scenario, spec in groups if scenario.server == "consent" or scenario.name == "CheckConsent echo mTLS"]


SECTION = Section(NAME, Sizes(), QUICK, run, functools.partial(section_table, base="echo"))
