"""What the keyvault section asks the load-generator process for: the picklable `KvRoundSpec`, the
names of the subjects the rounds use, and what a round reports besides its calls (CPU per process
and OpenBao's transit requests over the window, and the figures of a count-bounded bulk round).

The rounds themselves: `calls` (the keyvault over gRPC, the set-up releases, and the entry point the
generator runs for every round) and `transit` (the raw Vault transit calls the keyvault is compared
with).
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass, field
from typing import Any

import requests

from bench.common.cpu import Window
from bench.common.load import LoadResult, Target, Vault, summarize

KV_SEED_PREFIX = "kv-subj-"  # subjects granted consent for the keyvault rounds (their own, not consent's)
DATA_KEY_BYTES = 32
KEYVAULT_SCENARIOS = ("generate", "decrypt", "ensure_bulk", "shred")
TRANSIT_SCENARIOS = ("transit_encrypt", "transit_decrypt", "transit_encrypt_batch")
BULK_SCENARIOS = ("ensure_bulk", "transit_encrypt_batch")  # count-bounded: every subject once, then stop
# OpenBao's default listener refuses a request body of more than 1,000 JSON strings: a transit batch
# holds at most 498 plaintexts (2 strings each).
SET_UP_BATCH = 400


@dataclass(frozen=True)
class KvRoundSpec:
    scenario: str  # one of KEYVAULT_SCENARIOS (gRPC to `target`) or TRANSIT_SCENARIOS (hvac to `vault`)
    target: Target | None = None
    vault: Vault | None = None
    concurrency: int = 64  # calls in flight: asyncio workers, or threads for raw transit
    duration_s: float = 5.0
    warmup_s: float = 1.5
    rng_seed: int = 0
    subjects: int = 2_000  # consented subjects kv-subj-000000 ...; also the raw decrypt working set
    batch_size: int = 1  # subjects per EnsureSubjectKeys call, plaintexts per transit batch
    total: int = 0  # ensure_bulk/transit_encrypt_batch: subjects to create; shred: subjects that have keys
    subject_prefix: str = "bulk-"  # ensure_bulk and shred: subject n is f"{subject_prefix}{n:07d}"
    material: tuple[tuple[str, bytes, bytes], ...] = ()  # decrypt: (subject, wrapped_key, plaintext_key)
    metrics: Vault | None = None  # OpenBao with a token that may read sys/metrics: Vault requests per round
    cpu_roots: dict[str, int] = field(default_factory=dict)

    @property
    def max_calls(self) -> int | None:
        if self.scenario in BULK_SCENARIOS:
            return -(-self.total // self.batch_size)
        return self.total if self.scenario == "shred" else None


def consented_subject(i: int) -> str:
    return f"{KV_SEED_PREFIX}{i:06d}"


def bulk_subject(prefix: str, n: int) -> str:
    return f"{prefix}{n:07d}"


def b64_key() -> str:
    return base64.b64encode(os.urandom(DATA_KEY_BYTES)).decode()



# OpenBao's Prometheus counts of transit requests, one per operation (vault_route_update_transit__count,
# vault_route_delete_transit__count, ...): their sum is every request to the transit mount.
TRANSIT_COUNTER_SUFFIX = "_transit__count"


def transit_requests(metrics: Vault) -> float | None:
    """OpenBao's running count of requests to the transit mount (encrypt, decrypt, key create/delete, ...),
    or None if it cannot be read."""
    try:
        reply = requests.get(f"{metrics.address}/v1/sys/metrics", params={"format": "prometheus"},
                             headers={"X-Vault-Token": metrics.token}, timeout=5)
        reply.raise_for_status()
    except requests.RequestException:
        return None
    total = 0.0  # none yet: no line
    for line in reply.text.splitlines():
        name, _, value = line.partition(" ")
        if name.startswith("vault_route_") and name.endswith(TRANSIT_COUNTER_SUFFIX):
            total += float(value)
    return total


def window(spec: KvRoundSpec) -> Window:
    """CPU per process and Vault transit requests over the round's measured window."""
    metrics = spec.metrics
    return Window(spec.cpu_roots, spec.warmup_s, spec.duration_s,
                  (lambda: transit_requests(metrics)) if metrics else None)


def finish(result: LoadResult, spec: KvRoundSpec, measured: Window) -> dict[str, Any]:
    """A round's figures: its calls, CPU and Vault requests over the window and, for a bulk round, keys."""
    bulk = spec.scenario in BULK_SCENARIOS
    if bulk and result.count * spec.batch_size < spec.total:
        result.errors["not all subjects created"] += 1
    out: dict[str, Any] = {**summarize(result, spec.concurrency), "cpu_cores": measured.cores()}
    vault_per_s = measured.counter_rate()
    if vault_per_s is not None:
        out["vault_requests_per_s"] = vault_per_s
        out["vault_requests_per_call"] = vault_per_s / result.rps if result.rps else float("nan")
    if bulk:
        keys = result.count * spec.batch_size
        out.update(keys=keys, seconds=result.elapsed_s, keys_per_s=keys / result.elapsed_s,
                   seconds_per_100k=result.elapsed_s * 100_000 / keys if keys else float("nan"))
    return out
