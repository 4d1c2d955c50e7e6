"""The dsr section: deletion requests end to end, with two reference face gates as processors.

The platform runs as `consentry dev up` runs it (stack.py: PostgreSQL, Tansu, OpenBao, consent, the
wrapped keyvault, audit and dsr, configured by the dev platform's own functions, plus two `python -m
examples.face_gate serve` processes, each its own processor name and database). Every subject has
consent for the dev platform's purpose and a template enrolled at both gates before the clock
starts. Each deletion is what an operator does: SubmitRequest, VerifyIdentity, then GetRequest until
COMPLETED.

There is no baseline in the same run for the headline: the figures are compared with absolute
targets, and the CPU every process spent is reported beside them (per deletion, and per process).
What Kafka's TLS with client certificates costs is measured beside a second stack, built the same way
on a plaintext Tansu: rounds of fewer deletions alternate between the two (bench/common/kafka_tls.py).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from typing import Any

from bench.common.kafka_tls import PLAIN, SECURED, Pair
from bench.common import statements
from bench.common.profiling import profiled_processes
from bench.common.report import Goal, Scenario
from bench.common.section import Results, Section
from bench.common.stack import Stack
from bench.dsr import stack as dsr_stack
from bench.dsr.calls import DsrRoundSpec, Endpoints, subject
from bench.dsr.rounds import POLL_S, POLL_WINDOW, run_dsr_round
from bench.dsr.setup import prepare
from bench.dsr.stack import GATES, PURPOSE, DsrStack
from bench.dsr.table import table
from services.dsr.settings import DsrSettings

NAME = "dsr"
SETUP_MAX_S = 1800.0
TARGET_S = 60.0  # 10,000 deletions, first SubmitRequest to the last COMPLETED
ROUND = "SubmitRequest to COMPLETED"


@dataclass(frozen=True)
class Sizes:
    rounds: int = 1  # of each scenario, alternating: latency round i, then deletions round i
    deletions: int = 10_000  # per deletions round
    concurrency: int = 64  # SubmitRequest + VerifyIdentity pairs in flight
    latency_samples: int = 30  # deletions one at a time, per latency round
    warmup_deletions: int = 2  # one at a time before the rounds (the gates' consumer groups join)
    setup_concurrency: int = 64
    bulk_max_s: float = 900.0  # a deletions round fails after this long
    latency_max_s: float = 60.0  # one deletion fails after this long
    # Kafka TLS + client certificates against plaintext: rounds of each (0: not measured), deletions per
    # round, and deletions one at a time before each (a lone deletion's latency, without queueing).
    compare_rounds: int = 3
    compare_deletions: int = 2_000
    compare_latency_samples: int = 10


QUICK = Sizes(deletions=500, latency_samples=10, compare_rounds=2, compare_deletions=300,
              compare_latency_samples=5)
COMPARED = ("seconds", "submit_seconds", "resent_tasks", "own_part_p50_ms", "processors_p50_ms")


def _line(name: str, r: dict[str, Any]) -> str:
    errors = f"  errors {r['errors']}" if r["errors"] else ""
    if "seconds" in r:
        return (f"  {name:<34} {r['completed']:,} of {r['requests']:,} COMPLETED in {r['seconds']:.1f}s"
                f" = {r['rps']:,.1f}/s (submitted + verified in {r['submit_seconds']:.1f}s; per request p50"
                f" {r['p50_ms']:,.0f} ms, p99 {r['p99_ms']:,.0f} ms; tasks re-sent {r['resent_tasks']}){errors}")
    return (f"  {name:<34} {r['completed']} of {r['requests']}: p50 {r['p50_ms']:,.0f} ms  p99 {r['p99_ms']:,.0f} ms"
            f"  (own part p50 {r.get('own_part_p50_ms', float('nan')):,.0f} ms, processors p50"
            f" {r.get('processors_p50_ms', float('nan')):,.0f} ms){errors}")


def _cpu_split(r: dict[str, Any]) -> str:
    seconds = {k: v for k, v in r["cpu_seconds"].items() if "/" not in k}
    return "    cpu s: " + ", ".join(f"{role} {v:.1f}" for role, v in sorted(seconds.items(), key=lambda kv: -kv[1]))


def _round(s: Stack, d: DsrStack, spec: DsrRoundSpec) -> dict[str, Any]:
    waited = dsr_stack.settle(d)
    spec = replace(spec, cpu_roots=d.pids)
    bound = spec.max_s * (len(spec.subjects) if spec.scenario == "latency" else 1)  # latency: per deletion
    result = s.gen.apply_async(run_dsr_round, (spec,)).get(timeout=bound + 120)
    result["settle_before_s"] = waited
    return result


def _setup(s: Stack, d: DsrStack, ep: Endpoints, sizes: Sizes, everyone: list[str]) -> dict:
    print(f"dsr set-up: consent for {len(everyone):,} subjects ({PURPOSE}), each enrolled at {', '.join(GATES)} ...",
          flush=True)
    found = s.gen.apply_async(prepare, (ep, everyone, sizes.setup_concurrency)).get(timeout=SETUP_MAX_S)
    if found["templates"] != dict.fromkeys(GATES, len(everyone)):
        raise RuntimeError(f"enrolment: templates per gate {found['templates']}, expected {len(everyone)} each")
    holding = sorted(p["name"] for p in found["processors"] if PURPOSE in p["purposes"] and p["delete"])
    if holding != sorted(GATES):
        raise RuntimeError(f"processors holding {PURPOSE} that delete: {holding}, expected {list(GATES)}")
    print(f"  granted in {found['grant_seconds']:.1f}s, enrolled at both gates in {found['enrol_seconds']:.1f}s",
          flush=True)
    for database in ("consent", "keyvault", *(g.replace("-", "_") for g in GATES)):  # fresh statistics
        d.pg.execute("VACUUM ANALYZE", database=database)
    return found


def _endpoints(d: DsrStack) -> Endpoints:
    return Endpoints(d.target("dsr"), d.target("consent"), d.target("keyvault"), d.gate_tls, d.gate_dsns, PURPOSE)


def _ready(s: Stack, d: DsrStack, sizes: Sizes, prefix: str, subjects: list[str]) -> tuple[Endpoints, dict[str, Any]]:
    """A stack's set-up (warm-up subjects and `subjects`: consent, enrolment at both gates), then its
    warm-up deletions; `prefix` keeps its warm-up subjects apart from another stack's."""
    ep = _endpoints(d)
    warm = tuple(subject(f"{prefix}warm", n) for n in range(sizes.warmup_deletions))
    found = _setup(s, d, ep, sizes, [*warm, *subjects])
    print(f"dsr warm-up: {len(warm)} deletions one at a time (the gates' consumer groups join) ...", flush=True)
    warmed = _round(s, d, DsrRoundSpec("latency", ep, warm, max_s=max(sizes.latency_max_s, 120.0)))
    if warmed["completed"] != len(warm):
        raise RuntimeError(f"warm-up deletions did not complete: {warmed['errors']}")
    print(_line("warm-up", warmed), flush=True)
    return ep, {"setup": found, "warmup": warmed}


def _compared(sizes: Sizes, kind: str) -> list[tuple[str, ...]]:
    """Per comparison round: the deletions one at a time, then the many."""
    per_round = sizes.compare_latency_samples + sizes.compare_deletions
    return [tuple(subject(f"{kind}{i}", n) for n in range(per_round)) for i in range(sizes.compare_rounds)]


def _side(s: Stack, i: int, side: tuple[Scenario, Scenario, DsrStack, Endpoints], lone: tuple[str, ...],
          many: tuple[str, ...], sizes: Sizes, cpu_split: bool = False) -> None:
    """Round i on one stack: `lone` deleted one at a time, then `many` with `sizes.concurrency` in flight."""
    one_at_a_time, bulk, d, ep = side
    for scenario, spec in ((one_at_a_time, DsrRoundSpec("latency", ep, lone, max_s=sizes.latency_max_s, rng_seed=i)),
                           (bulk, DsrRoundSpec("bulk", ep, many, concurrency=sizes.concurrency,
                                               max_s=sizes.bulk_max_s, rng_seed=i))):
        result = _round(s, d, spec)
        scenario.rounds.append(result)
        print(_line(f"{scenario.name} #{i + 1}", result), flush=True)
        if cpu_split and "cpu_seconds" in result:
            print(_cpu_split(result), flush=True)


def _compared_scenarios(sizes: Sizes) -> list[Scenario]:
    """One at a time and many, on the secured stack and on the plaintext one."""
    n = sizes.compare_deletions
    note = (f"{n:,} subjects per round, each with consent and a template at both gates; {sizes.concurrency}"
            " SubmitRequest + VerifyIdentity pairs in flight; seconds = first SubmitRequest to the last COMPLETED;"
            f" rounds alternate with the other stack's ({SECURED} / {PLAIN})")
    lone = (f"{sizes.compare_latency_samples} deletions per round, one at a time (GetRequest every 25 ms until"
            " COMPLETED; latency = submission to the COMPLETED time in the request's timeline), before the round of"
            f" {n:,} on the same stack; rounds alternate with the other stack's")
    where = {SECURED: "; the section's stack: every service and gate reaches Kafka through the TLS front (stunnel)"
                      " with its own certificate",
             PLAIN: "; a second stack, the same processes and settings, on a plaintext Tansu (security_protocol"
                    " PLAINTEXT; the gates through bench/dsr/plain_gate.py)"}
    found = []
    for kafka, tls in ((SECURED, True), (PLAIN, False)):
        roles = dsr_stack.server_roles(tls)
        found += [Scenario(f"deletion one at a time, {kafka}", ROUND, roles, section=NAME, unit="deletions",
                           extra_medians=COMPARED[-2:], note=lone),
                  Scenario(f"deletions x{n:,}, {kafka}", ROUND, roles, section=NAME, unit="deletions",
                           extra_medians=COMPARED, note=note + where[kafka])]
    return found


def _compare_kafka(s: Stack, sizes: Sizes, d: DsrStack, ep: Endpoints, secured_subjects: list[tuple[str, ...]]
                   ) -> tuple[list[Scenario], dict[str, Any], list[Pair]]:
    """Deletions on the section's stack (Kafka over the TLS front, a certificate per service and gate)
    beside a second stack built the same way on a plaintext Tansu, rounds alternating (secured first in
    rounds 1, 3, ..., plaintext first in rounds 2, 4, ...; the other stack idles meanwhile). The
    plaintext stack is stopped afterwards: the rounds after run as before."""
    began = time.monotonic()
    plain_subjects = _compared(sizes, "plain")
    p = dsr_stack.start(s, tls=False, name="dsr-stack-plain")
    plain_ep, plain_info = _ready(s, p, sizes, "p", [x for group in plain_subjects for x in group])
    one_secured, secured, one_plain, plain = scenarios = _compared_scenarios(sizes)
    sides = [((one_secured, secured, d, ep), secured_subjects), ((one_plain, plain, p, plain_ep), plain_subjects)]
    k = sizes.compare_latency_samples
    print(f"dsr: {sizes.compare_rounds} rounds of {k} deletions one at a time and {sizes.compare_deletions:,} with"
          f" {sizes.concurrency} in flight, each with {SECURED} and with {PLAIN}, alternating", flush=True)
    for i in range(sizes.compare_rounds):
        for side, subjects in sides if i % 2 == 0 else sides[::-1]:
            _side(s, i, side, subjects[i][:k], subjects[i][k:], sizes)
    p.stop()
    info = {**plain_info, "seconds": time.monotonic() - began,
            "startup_seconds": {name: proc.startup_seconds for name, proc in {**p.servers, **p.gates}.items()}}
    pairs = [Pair(f"dsr deletions x{sizes.compare_deletions:,} end to end", secured.name, plain.name, "deletions/s"),
             # one at a time, a rate is mostly the poller's pace: the latency is the figure
             Pair("dsr deletion one at a time", one_secured.name, one_plain.name, "deletions/s",
                  ("p50_ms", "p99_ms", "processors_p50_ms", "server_cpu_ms_per_call", "broker_cpu_ms_per_call"))]
    return scenarios, info, pairs


def _profile(s: Stack, d: DsrStack, ep: Endpoints, many: Scenario, subjects: tuple[str, ...], sizes: Sizes
             ) -> list[dict[str, Any]]:
    """--profile: the deletions round once more, outside the medians, with py-spy on each service and
    gate for the whole round; where the profiles went."""
    assert s.profile_dir is not None
    roles = [*d.servers, *d.gates]
    outs = {s.profile_dir / f"dsr-deletions-{role}.collapsed": d.pids[role] for role in roles}
    print(f"profiling {', '.join(roles)} during {many.name} ...", flush=True)
    spec = DsrRoundSpec("bulk", ep, subjects, concurrency=sizes.concurrency, max_s=sizes.bulk_max_s)
    dsr_stack.settle(d)  # before sampling starts: the round's own settling then finds nothing to wait for
    statements.reset(d.pg)
    result, summaries = profiled_processes(outs, lambda: _round(s, d, spec))
    print(_line(f"{many.name} (profiled)", result), flush=True)
    for out, summary in summaries.items():
        print(f"  {out.stem}: {summary.splitlines()[0]}", flush=True)  # the rest is in the .txt file
    sql = s.profile_dir / "dsr-deletions-postgres-statements.txt"
    print(statements.report(d.pg, sql, len(subjects), "deletion"), f"\n  (all of it: {sql})", flush=True)
    return [{"name": out.stem, "round": result, "collapsed": str(out), "summary": str(out.with_suffix(".txt"))}
            for out in outs] + [{"name": sql.stem, "round": result, "summary": str(sql)}]


def _headline_scenarios(sizes: Sizes) -> tuple[Scenario, Scenario]:
    roles = dsr_stack.server_roles()
    one = Scenario("deletion one at a time", ROUND, roles, section=NAME, unit="deletions",
                   extra_medians=("seen_p50_ms", "to_verified_p50_ms", "own_part_p50_ms", "processors_p50_ms"),
                   note=f"{sizes.latency_samples} deletions per round, each SubmitRequest + VerifyIdentity, then"
                        " GetRequest every 25 ms until COMPLETED; latency = submission to the COMPLETED time in the"
                        " request's timeline; no other load")
    many = Scenario(f"deletions x{sizes.deletions:,}", ROUND, roles, section=NAME,
                    unit="deletions", goals={"seconds_per_10k": Goal("<", TARGET_S)},
                    extra_medians=("seconds", "seconds_per_10k", "seen_seconds", "submit_seconds", "submit_rps",
                                   "submit_p99_ms", "resent_tasks", "polls_per_request", "own_part_p50_ms",
                                   "processors_p50_ms"),
                    note=f"{sizes.deletions:,} subjects, each with consent and a template at both gates;"
                         f" {sizes.concurrency} SubmitRequest + VerifyIdentity pairs in flight; seconds = first"
                         " SubmitRequest to the last COMPLETED time in the requests' timelines; p50/p99 = each"
                         " request's submission to COMPLETED, under the load of the others"
                         + ("" if sizes.deletions == 10_000 else
                            f"; the target is for 10,000: s per 10,000 is extrapolated from {sizes.deletions:,}"))
    return one, many


def run(s: Stack, sizes: Sizes) -> Results:
    began = time.monotonic()
    d = dsr_stack.start(s)
    bulk = [tuple(subject(f"bulk{i}", n) for n in range(sizes.deletions)) for i in range(sizes.rounds)]
    latency = [tuple(subject(f"lat{i}", n) for n in range(sizes.latency_samples)) for i in range(sizes.rounds)]
    compared = _compared(sizes, "tls")
    profiled = tuple(subject("profiled", n) for n in range(sizes.deletions)) if s.profile_dir else ()
    started_s = time.monotonic() - began
    ep, found = _ready(s, d, sizes, "", [x for group in (*latency, *bulk, *compared, profiled) for x in group])
    comparison: list[Scenario] = []
    pairs: list[Pair] = []
    if sizes.compare_rounds:  # first, on stacks alike in history; then the headline on the section's stack alone
        comparison, found["plaintext_stack"], pairs = _compare_kafka(s, sizes, d, ep, compared)
    one, many = _headline_scenarios(sizes)
    print(f"dsr: {sizes.rounds} round(s) of {sizes.latency_samples} deletions one at a time, then {sizes.deletions:,}"
          f" deletions with {sizes.concurrency} in flight", flush=True)
    for i in range(sizes.rounds):
        _side(s, i, (one, many, d, ep), latency[i], bulk[i], sizes, cpu_split=True)
    if profiled:
        found["profiles"] = _profile(s, d, ep, many, profiled, sizes)
    setup = {**found, "start_seconds": started_s, "seconds": time.monotonic() - began,
             "startup_seconds": {name: p.startup_seconds for name, p in {**d.servers, **d.gates}.items()}}
    return Results([one, many, *comparison], {"dsr_setup": setup}, {"dsr": dsr_config(sizes, s.event_loop)}, pairs)


def dsr_config(sizes: Sizes, event_loop: str) -> dict[str, Any]:
    """The run's sizes and the settings that shape its figures (the services' defaults, as dev up leaves them)."""
    f = DsrSettings.model_fields
    return {**asdict(sizes), "poller": {"window": POLL_WINDOW, "pause_s": POLL_S},
            "service": {key: f[key].default for key in ("task_confirm_timeout_s", "task_max_attempts", "task_window",
                                                        "start_concurrency", "pool_min_size", "pool_max_size")}
            | {"transport": "mTLS", "log_level": "WARNING", "event_loop": event_loop, "keyvault_backend": "wrapped",
               "kafka": "SSL: the TLS front, a client certificate per service and gate"
                        + ("; the comparison's second stack: PLAINTEXT" if sizes.compare_rounds else "")},
            "gates": {"names": list(GATES), "purpose": PURPOSE,
                      "client": "each its own certificate (its processor name), granted what dev up grants demo-gate"}}


SECTION = Section(NAME, Sizes(), QUICK, run, table)
