"""What the keyvault section asks for: the picklable `KvRoundSpec` the orchestrator hands the
load-generator process, the OpenBao endpoint the raw transit rounds call, and the names of the
subjects the rounds use.

The rounds themselves: `keyvault_rounds` (the keyvault over gRPC, and the entry point the generator
runs for every round), `keyvault_transit` (the raw Vault transit calls the keyvault is compared
with), `keyvault_window` (CPU and Vault requests over a round's window) and `keyvault_setup` (the
set-up releases).
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass, field

import hvac

from bench.consent_scenarios import CALL_TIMEOUT_S, Target

KV_SEED_PREFIX = "kv-subj-"  # subjects granted consent for the keyvault rounds (their own, not consent's)
DATA_KEY_BYTES = 32
KEYVAULT_SCENARIOS = ("generate", "decrypt", "ensure_bulk", "shred")
TRANSIT_SCENARIOS = ("transit_encrypt", "transit_decrypt", "transit_encrypt_batch")
BULK_SCENARIOS = ("ensure_bulk", "transit_encrypt_batch")  # count-bounded: every subject once, then stop
# OpenBao's default listener refuses a request body of more than 1,000 JSON strings: a transit batch
# holds at most 498 plaintexts (2 strings each).
SET_UP_BATCH = 400


@dataclass(frozen=True)
class Vault:
    """An OpenBao endpoint and a token; `key_name`/`mount` name the transit key the keyvault wraps with."""

    address: str
    token: str
    key_name: str = "consentry-kek"
    mount: str = "transit"

    def client(self) -> hvac.Client:
        return hvac.Client(url=self.address, token=self.token, timeout=CALL_TIMEOUT_S)


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

