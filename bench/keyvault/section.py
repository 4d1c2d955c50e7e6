"""The keyvault section: data-key releases, bulk key creation and shredding against the keyvault
service, per key backend, each beside the raw Vault transit call it is built on, measured in the same
run.

The baseline is what a client gets from OpenBao without the keyvault: one hvac
`secrets.transit.encrypt_data` / `decrypt_data` per operation (a batch of plaintexts for bulk
creation), from a pool of threads with an hvac.Client each, in the same load-generator process,
against the same OpenBao, and with the KEK and least-privilege token of the wrapped backend.
"""

from __future__ import annotations

import functools
import time
from dataclasses import asdict, dataclass, replace
from typing import Any

from bench.common.consents import grant_all, setup_purpose
from bench.common.processes import KEYVAULT_BACKENDS, keyvault_database, keyvault_role
from bench.common.report import Goal, Scenario, section_table
from bench.common.rounds import Groups, profile_round, run_interleaved
from bench.common.section import Results, Section
from bench.common.stack import Stack, settle, start_keyvault
from bench.keyvault.calls import ensure_keys, release_material, run_kv_round
from bench.keyvault.spec import KV_SEED_PREFIX, KvRoundSpec, consented_subject
from services.keyvault.settings import KeyVaultSettings

NAME = "keyvault"
BULK_MAX_S = 900.0  # a bulk round (count-bounded) is abandoned after this long
KEY_CACHE_TTL_S = KeyVaultSettings.model_fields["key_cache_ttl_s"].default  # the benchmark keeps the default
# The set-up's first releases are spread over this long, so that cached keys do not all expire in the
# same second (see release_material): the TTL, but at most a minute of set-up.
SPREAD_S = min(KEY_CACHE_TTL_S, 60.0)
# How each backend uses Vault per call, as vault_requests_per_call shows it.
BACKEND_NOTES = {
    "wrapped": {
        "GenerateDataKey": "releases seal locally with the cached plaintext subject key: Vault only when an entry"
                           " expires",
        "DecryptDataKey": "releases open locally with the cached plaintext subject key: Vault only when an entry"
                          " expires",
        "EnsureSubjectKeys": "transit batch encrypts (vault_requests_per_call: how many per call)",
        "ShredSubjectKey": "one transit decrypt per shred (the subject reference in the certificate)",
    },
    "transit-per-subject": {
        "GenerateDataKey": "one transit encrypt (derived key of the subject) per release",
        "DecryptDataKey": "one transit decrypt (derived key of the subject) per release",
        "EnsureSubjectKeys": "one transit key created per subject",
        "ShredSubjectKey": "transit hmac, key config and key delete per shred",
    },
}
RELEASE_GOALS = {"goals": {"rps": Goal(">=", 2_000)}, "ratio_goals": {"rps": Goal(">=", 4)}}


@dataclass(frozen=True)
class Sizes:
    rounds: int = 3
    duration_s: float = 5.0
    warmup_s: float = 1.5
    concurrency: int = 64  # GenerateDataKey / DecryptDataKey calls in flight
    subjects: int = 2_000  # consented subjects the releases pick from at random
    transit_threads: int = 16  # raw transit baseline: threads, one hvac.Client each
    bulk_subjects: int = 100_000  # keys created per EnsureSubjectKeys round
    bulk_batch: int = 1_000  # subject ids per EnsureSubjectKeys call: the RPC's documented maximum
    # Plaintexts per raw transit batch: OpenBao's default listener refuses a request body of more than
    # 1,000 JSON strings (2 per plaintext), so a raw batch holds at most 498.
    transit_batch: int = 250
    bulk_in_flight: int = 4  # EnsureSubjectKeys calls in flight (threads for the raw batch baseline)
    shred_concurrency: int = 64


QUICK = Sizes(rounds=2, duration_s=1.5, warmup_s=0.5, bulk_subjects=10_000)


def setup(s: Stack, sizes: Sizes) -> dict[str, Any]:
    """Consent for the release subjects, their keys, and one data key each for the decrypt rounds.
    None of this is measured; it also loads each key into the keyvault's cache."""
    s.gen.apply(setup_purpose, (s.consent.target,))  # idempotent: the consent section may have done it
    n = sizes.subjects
    print(f"keyvault set-up: consent for {n:,} subjects ({KV_SEED_PREFIX}...), their keys, one data key each"
          f" (spread over {SPREAD_S:g}s; key cache TTL {KEY_CACHE_TTL_S:g}s) ...", flush=True)
    began = time.monotonic()
    granted = s.gen.apply(grant_all, (s.consent.target, [consented_subject(i) for i in range(n)], sizes.concurrency))
    if granted != n:
        raise RuntimeError(f"consent seeding failed: {granted} of {n} granted")
    info: dict[str, Any] = {"seed": {"granted": granted, "seconds": time.monotonic() - began}}
    for backend, server in s.keyvaults.items():
        active = s.gen.apply(ensure_keys, (server.target, n, sizes.bulk_batch))
        if active != n:
            raise RuntimeError(f"{backend}: {active} of {n} subject keys ACTIVE after EnsureSubjectKeys")
    # Every backend at once, so that no cache has aged more than another's when the rounds begin.
    materials = s.gen.apply(release_material, ([server.target for server in s.keyvaults.values()], n,
                                               sizes.concurrency, SPREAD_S))
    info["material"] = {backend: tuple(m) for backend, m in zip(s.keyvaults, materials, strict=True)}
    settle(s)
    for database in s.databases:  # fresh statistics: plans must not change mid-run
        s.pg.execute("VACUUM ANALYZE", database=database)
    return info


def _specs(s: Stack, sizes: Sizes) -> dict[str, tuple[str, KvRoundSpec, KvRoundSpec, dict[str, Any]]]:
    """Per RPC: the raw transit operation of its baseline, the baseline's spec, the keyvault's, and what
    its scenarios say (goals, note, unit)."""
    assert s.vault is not None
    timing = dict(duration_s=sizes.duration_s, warmup_s=sizes.warmup_s)
    vault = dict(vault=s.vault, metrics=s.vault_metrics)
    count_bounded = dict(duration_s=BULK_MAX_S, warmup_s=0.0)
    cache_note = (f"{sizes.concurrency} in flight over {sizes.subjects:,} consented subjects whose key handles are"
                  f" cached (set-up released one data key each, spread over {SPREAD_S:g}s; cache TTL"
                  f" {KEY_CACHE_TTL_S:g}s);"
                  " consent is checked on every call; the raw transit baseline runs"
                  f" {sizes.transit_threads} threads, so compare rps, not latency")
    bulk_note = (f"{sizes.bulk_subjects:,} new subjects per round, {sizes.bulk_batch:,} per call, {sizes.bulk_in_flight}"
                 f" calls in flight (raw transit: {sizes.transit_batch} plaintexts per call, the ratio is of keys/s);"
                 " seconds = first call to last answer"
                 + ("" if sizes.bulk_subjects == 100_000 else
                    f"; the target is for 100,000 keys: s per 100,000 is extrapolated from {sizes.bulk_subjects:,}"))
    return {
        "GenerateDataKey": ("encrypt", KvRoundSpec("transit_encrypt", concurrency=sizes.transit_threads, **timing, **vault),
                            KvRoundSpec("generate", concurrency=sizes.concurrency, subjects=sizes.subjects, **timing,
                                        metrics=s.vault_metrics),
                            dict(RELEASE_GOALS, note=cache_note)),
        "DecryptDataKey": ("decrypt", KvRoundSpec("transit_decrypt", concurrency=sizes.transit_threads,
                                                  subjects=sizes.subjects, **timing, **vault),
                           KvRoundSpec("decrypt", concurrency=sizes.concurrency, subjects=sizes.subjects, **timing,
                                       metrics=s.vault_metrics),
                           dict(RELEASE_GOALS, note=cache_note)),
        "EnsureSubjectKeys": ("encrypt batch", KvRoundSpec("transit_encrypt_batch", concurrency=sizes.bulk_in_flight,
                                                           batch_size=sizes.transit_batch, total=sizes.bulk_subjects,
                                                           **count_bounded, **vault),
                              KvRoundSpec("ensure_bulk", concurrency=sizes.bulk_in_flight, batch_size=sizes.bulk_batch,
                                          total=sizes.bulk_subjects, **count_bounded, metrics=s.vault_metrics),
                              dict(goals={"seconds_per_100k": Goal("<=", 60)}, note=bulk_note, unit="keys",
                                   decisions_per_call=sizes.bulk_batch, extra_medians=("seconds", "seconds_per_100k"))),
        "ShredSubjectKey": ("decrypt", KvRoundSpec("transit_decrypt", concurrency=sizes.transit_threads,
                                                   subjects=sizes.subjects, **timing, **vault),
                            KvRoundSpec("shred", concurrency=sizes.shred_concurrency, total=sizes.bulk_subjects, **timing,
                                        metrics=s.vault_metrics),
                            dict(goals={"rps": Goal(">=", 500)},
                                 note=(f"{sizes.shred_concurrency} in flight, each call a different subject created by"
                                       " the EnsureSubjectKeys round of the same number (handles not cached); the"
                                       " baseline is one raw transit decrypt"))),
    }


def plan(s: Stack, sizes: Sizes, material: dict[str, tuple]) -> list[tuple[str, Groups]]:
    """Per RPC: the raw transit baseline, then each backend."""
    planned: list[tuple[str, Groups]] = []
    for rpc, (op, base_spec, kv_spec, kw) in _specs(s, sizes).items():
        base_name = f"{rpc} raw transit {op}"
        extra = ("vault_requests_per_call", *kw.pop("extra_medians", ()))
        batch = sizes.transit_batch if rpc == "EnsureSubjectKeys" else kw.get("decisions_per_call", 1)
        base = Scenario(base_name, rpc, "openbao", section=NAME, decisions_per_call=batch,
                        unit=kw.get("unit", "decisions"), extra_medians=extra)
        group: Groups = [(base, base_spec)]
        for backend, server in s.keyvaults.items():
            note = "; ".join(filter(None, [kw.get("note"), BACKEND_NOTES.get(backend, {}).get(rpc)]))
            scenario = Scenario(f"{rpc} keyvault {backend}", rpc, keyvault_role(backend), base_name, section=NAME,
                                extra_medians=extra, **dict(kw, note=note))
            releases = material.get(backend, ()) if rpc == "DecryptDataKey" else ()
            group.append((scenario, replace(kv_spec, target=server.target, material=releases)))
        planned.append((rpc, group))
    return planned


def _round_extra(scenario: Scenario, r: dict[str, Any]) -> str:
    out = ""
    if "keys" in r:
        out += f"  {r['keys']:,} keys in {r['seconds']:.1f}s = {r['keys_per_s']:,.0f}/s"
    if "vault_requests_per_call" in r:
        out += f"  vault req/call {r['vault_requests_per_call']:.3f}"
    return out


def run(s: Stack, sizes: Sizes) -> Results:
    start_keyvault(s)
    info = setup(s, sizes)
    material = info.pop("material")
    ran: Groups = []
    for rpc, group in plan(s, sizes, material):
        bulk = group[-1][1].scenario == "ensure_bulk"
        how = ("one pass per round (count-bounded)" if bulk
               else f"{sizes.warmup_s:g}s warm-up + {sizes.duration_s:g}s")
        print(f"{rpc}: {sizes.rounds} rounds of {how}", flush=True)
        run_interleaved(s, group, sizes.rounds, run_kv_round, BULK_MAX_S + 60 if bulk else None, _round_extra)
        if bulk:  # shredding then runs on statistics that know the new rows
            began = time.monotonic()
            settle(s)
            for backend in s.keyvaults:
                s.pg.execute("VACUUM ANALYZE subject_keys", database=keyvault_database(backend))
            info["after_bulk_settle_s"] = time.monotonic() - began
        ran += group
    found: dict[str, Any] = {"keyvault_setup": info}
    if s.profile_dir:
        found["keyvault_profiles"] = profile(s, ran)
    return Results([scenario for scenario, _ in ran], found,
                   {"keyvault": {**asdict(sizes), "service": keyvault_config(s.event_loop)}})


def profile(s: Stack, groups: Groups) -> list[dict[str, Any]]:
    """One extra round per keyvault scenario with py-spy attached to the keyvault, outside the medians
    (the bulk round creates, and the shred round then destroys, subjects of its own).

    The measured release rounds ran minutes earlier, so every key cached then has expired: before a
    profiled release round each subject gets one release (not profiled), so that the profile shows
    the path the measured rounds mostly took, not a refill of every key at once."""
    found = []
    for scenario, spec in groups:
        if not scenario.server.startswith("keyvault"):
            continue
        spec = replace(spec, subject_prefix="bulk-profiled-")
        if spec.scenario == "ensure_bulk":
            seconds = max(r["seconds"] for r in scenario.rounds) + 2
        else:
            seconds = spec.warmup_s + spec.duration_s + 1
        if spec.scenario in ("generate", "decrypt"):
            s.gen.apply(release_material, ([spec.target], spec.subjects, spec.concurrency, 0.0))
        found.append(profile_round(s, scenario, spec, seconds, run_kv_round, BULK_MAX_S + 60, _round_extra))
    return found


def keyvault_config(event_loop: str) -> dict[str, Any]:
    """The service settings that shape its throughput (left at their defaults, but the log level)."""
    f = KeyVaultSettings.model_fields
    return {key: f[key].default for key in ("pool_min_size", "pool_max_size", "key_cache_ttl_s", "consent_timeout_s")} | {
        "transport": "mTLS", "log_level": "WARNING", "trace_exporter": "none", "event_loop": event_loop,
        "backends": list(KEYVAULT_BACKENDS),
        "vault": "OpenBao dev server (in memory), Prometheus telemetry on; transit key aes256-gcm96",
    }


SECTION = Section(NAME, Sizes(), QUICK, run, functools.partial(section_table, base="transit", vault=True))
