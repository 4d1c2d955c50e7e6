"""Raw Vault transit: what one hvac call costs without the keyvault, the baseline of the keyvault
section. hvac is blocking, so a round runs `concurrency` threads, each with its own hvac.Client
(hence its own HTTP keep-alive session), against the same OpenBao, key and token as the keyvault."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from typing import Any

from bench.common.load import CallFailed, Vault, run_threaded_load
from bench.keyvault.spec import SET_UP_BATCH, KvRoundSpec, b64_key, finish, window


def _transit_material(vault: Vault, n: int) -> list[tuple[str, str]]:
    """(ciphertext, plaintext base64) pairs for the raw decrypt rounds, made in batches before the clock."""
    transit, out = vault.client().secrets.transit, []
    for first in range(0, n, SET_UP_BATCH):
        plain = [b64_key() for _ in range(min(SET_UP_BATCH, n - first))]
        data = transit.encrypt_data(vault.key_name, plaintext="", batch_input=[{"plaintext": p} for p in plain],
                                    mount_point=vault.mount)["data"]
        out += [(r["ciphertext"], p) for r, p in zip(data["batch_results"], plain, strict=True)]
    return out


def make_transit_call(spec: KvRoundSpec) -> Callable[[], Callable[[], None]]:
    """A factory run once per thread: each thread gets its own hvac.Client and its own random stream."""
    vault = spec.vault
    assert vault is not None
    thread_numbers = itertools.count()
    material = _transit_material(vault, spec.subjects) if spec.scenario == "transit_decrypt" else []

    def factory() -> Callable[[], None]:
        transit = vault.client().secrets.transit
        rng = random.Random(spec.rng_seed * 1000 + next(thread_numbers))
        if spec.scenario == "transit_encrypt":
            def encrypt() -> None:
                data = transit.encrypt_data(vault.key_name, plaintext=b64_key(), mount_point=vault.mount)["data"]
                if not data["ciphertext"].startswith("vault:v"):
                    raise CallFailed("malformed ciphertext")
            return encrypt
        if spec.scenario == "transit_decrypt":
            def decrypt() -> None:
                ciphertext, plaintext = rng.choice(material)
                data = transit.decrypt_data(vault.key_name, ciphertext, mount_point=vault.mount)["data"]
                if data["plaintext"] != plaintext:
                    raise CallFailed("wrong plaintext")
            return decrypt
        if spec.scenario == "transit_encrypt_batch":
            def encrypt_batch() -> None:
                batch = [{"plaintext": b64_key()} for _ in range(spec.batch_size)]
                data = transit.encrypt_data(vault.key_name, plaintext="", batch_input=batch,
                                            mount_point=vault.mount)["data"]
                results = data["batch_results"]
                if len(results) != len(batch) or any("error" in r for r in results):
                    raise CallFailed("batch item failed")
            return encrypt_batch
        raise ValueError(f"unknown transit scenario {spec.scenario!r}")

    return factory


def transit_round(spec: KvRoundSpec) -> dict[str, Any]:
    factory = make_transit_call(spec)
    with window(spec) as measured:
        result = run_threaded_load(factory, threads=spec.concurrency, duration_s=spec.duration_s,
                                   warmup_s=spec.warmup_s, max_calls=spec.max_calls)
    return finish(result, spec, measured)
