"""The keyvault calls the benchmark makes, the raw Vault transit calls it compares them with, and the
entry points the load-generator process runs for both.

Like consent_scenarios, every function here runs in the load-generator process; the orchestrator
only hands it picklable `KvRoundSpec`s. Keyvault rounds use grpc.aio (one channel, `concurrency`
calls in flight); raw transit rounds use hvac, which is blocking, from `concurrency` threads with an
hvac.Client (hence an HTTP keep-alive session) each, against the same OpenBao, key and token.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import os
import random
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
import hvac
import requests

from bench.consent_scenarios import CALL_TIMEOUT_S, PURPOSE_ID, Target, grant_request, summarize
from bench.cpu import Snapshot, cores_between, snapshot
from bench.load import CallFailed, LoadResult, run_load, run_threaded_load
from consentry.consent.v1 import consent_pb2 as cpb
from consentry.consent.v1 import consent_pb2_grpc
from consentry.keyvault.v1 import keyvault_pb2 as pb
from consentry.keyvault.v1 import keyvault_pb2_grpc
from services.common.signing import verify_signature

KV_SEED_PREFIX = "kv-subj-"  # subjects granted consent for the keyvault rounds (their own, not consent's)
DATA_KEY_BYTES = 32
KEYVAULT_SCENARIOS = ("generate", "decrypt", "ensure_bulk", "shred")
TRANSIT_SCENARIOS = ("transit_encrypt", "transit_decrypt", "transit_encrypt_batch")
BULK_SCENARIOS = ("ensure_bulk", "transit_encrypt_batch")  # count-bounded: every subject once, then stop
# OpenBao's Prometheus counts of transit requests, one per operation (vault_route_update_transit__count,
# vault_route_delete_transit__count, ...): their sum is every request to the transit mount.
TRANSIT_COUNTER_SUFFIX = "_transit__count"
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


def _b64_key() -> str:
    return base64.b64encode(os.urandom(DATA_KEY_BYTES)).decode()


def transit_requests(metrics: Vault | None) -> float | None:
    """OpenBao's running count of requests to the transit mount (encrypt, decrypt, key create/delete, ...),
    or None if it cannot be read."""
    if metrics is None:
        return None
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


class _Window:
    """CPU per process, and Vault transit requests, over the measured window; a thread, so that it
    serves the asyncio rounds and the threaded ones alike. Leaving the `with` block ends the window
    early: a count-bounded round's window ends when its last call returns.

    Both figures are rates over the interval between two samples, each timed where it was taken:
    a sample that comes late (the generator is busy) shortens the interval, it does not bias the rate.
    """

    def __init__(self, spec: KvRoundSpec) -> None:
        self._spec = spec
        self._closed = threading.Event()
        self._before: tuple[Snapshot, tuple[float, float] | None] | None = None
        self._after: tuple[Snapshot, tuple[float, float] | None] | None = None
        self._thread = threading.Thread(target=self._run, name="window", daemon=True)

    def _take(self) -> tuple[Snapshot, tuple[float, float] | None]:
        cpu = snapshot(self._spec.cpu_roots)
        sent = time.monotonic()
        count = transit_requests(self._spec.metrics)
        # OpenBao reads its counter somewhere between sending and receiving: take the midpoint.
        return cpu, None if count is None else ((sent + time.monotonic()) / 2, count)

    def _run(self) -> None:
        began = time.monotonic()
        if self._closed.wait(self._spec.warmup_s):
            return
        self._before = self._take()
        self._closed.wait(max(0.0, began + self._spec.warmup_s + self._spec.duration_s - time.monotonic()))
        self._after = self._take()

    def __enter__(self) -> _Window:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._closed.set()
        self._thread.join()

    def figures(self, rps: float) -> dict[str, Any]:
        if self._before is None or self._after is None:
            return {"cpu_cores": {}}
        out: dict[str, Any] = {"cpu_cores": cores_between(self._before[0], self._after[0])}
        if self._before[1] is not None and self._after[1] is not None:
            (t0, n0), (t1, n1) = self._before[1], self._after[1]
            out["vault_requests_per_s"] = (n1 - n0) / max(t1 - t0, 1e-9)
            out["vault_requests_per_call"] = out["vault_requests_per_s"] / rps if rps else float("nan")
        return out


def _bulk_figures(result: LoadResult, spec: KvRoundSpec) -> dict[str, Any]:
    keys = result.count * spec.batch_size
    return {"keys": keys, "seconds": result.elapsed_s, "keys_per_s": keys / result.elapsed_s,
            "seconds_per_100k": result.elapsed_s * 100_000 / keys if keys else float("nan")}


def _finish(result: LoadResult, spec: KvRoundSpec, window: _Window) -> dict[str, Any]:
    if spec.scenario in BULK_SCENARIOS and result.count * spec.batch_size < spec.total:
        result.errors["not all subjects created"] += 1
    out = {**summarize(result, spec), **window.figures(result.rps)}  # type: ignore[arg-type]
    if spec.scenario in BULK_SCENARIOS:
        out.update(_bulk_figures(result, spec))
    return out


# Keyvault over gRPC


def _expect_code(code: grpc.StatusCode, expected: grpc.StatusCode) -> None:
    if code != expected:
        raise CallFailed(f"{code} instead of {expected}")


def make_kv_call(spec: KvRoundSpec, stub: keyvault_pb2_grpc.KeyVaultServiceStub) -> Callable[[], Awaitable[None]]:
    rng = random.Random(spec.rng_seed)
    if spec.scenario == "generate":
        generate = [pb.GenerateDataKeyRequest(subject_id=consented_subject(i), purpose_id=PURPOSE_ID)
                    for i in range(spec.subjects)]

        async def generate_data_key() -> None:
            reply = await stub.GenerateDataKey(rng.choice(generate), timeout=CALL_TIMEOUT_S)
            if len(reply.plaintext_key) != DATA_KEY_BYTES or not reply.wrapped_key:
                raise CallFailed("malformed data key")

        return generate_data_key
    if spec.scenario == "decrypt":
        decrypt = [(pb.DecryptDataKeyRequest(subject_id=s, purpose_id=PURPOSE_ID, wrapped_key=w), p)
                   for s, w, p in spec.material]

        async def decrypt_data_key() -> None:
            request, plaintext = rng.choice(decrypt)
            reply = await stub.DecryptDataKey(request, timeout=CALL_TIMEOUT_S)
            if reply.plaintext_key != plaintext:
                raise CallFailed("wrong data key")

        return decrypt_data_key
    if spec.scenario == "ensure_bulk":
        numbers = iter(range(spec.total))

        async def ensure_subject_keys() -> None:
            subjects = [bulk_subject(spec.subject_prefix, n) for n in itertools.islice(numbers, spec.batch_size)]
            reply = await stub.EnsureSubjectKeys(pb.EnsureSubjectKeysRequest(subject_ids=subjects),
                                                 timeout=CALL_TIMEOUT_S * 3)
            if [s.subject_id for s in reply.statuses] != subjects:
                raise CallFailed("statuses do not match the request")
            if any(s.state != pb.KEY_STATE_ACTIVE for s in reply.statuses):
                raise CallFailed("key not ACTIVE")

        return ensure_subject_keys
    if spec.scenario == "shred":
        subjects = (bulk_subject(spec.subject_prefix, n) for n in itertools.count())

        async def shred_subject_key() -> None:
            subject = next(subjects)
            reply = await stub.ShredSubjectKey(pb.ShredSubjectKeyRequest(
                subject_id=subject, request_id=f"bench-dsr-{subject}", reason="benchmark erasure",
                idempotency_key=f"bench-shred-{subject}"), timeout=CALL_TIMEOUT_S)
            # Parsing the certificate is cheap; verifying its signature on every call would load the
            # generator (the checks at the end verify one). A subject without a key destroys none.
            if not json.loads(reply.certificate.certificate_json)["keysDestroyed"]:
                raise CallFailed("no key destroyed")

        return shred_subject_key
    raise ValueError(f"unknown keyvault scenario {spec.scenario!r}")


async def _kv_round(spec: KvRoundSpec) -> dict[str, Any]:
    assert spec.target is not None
    async with spec.target.channel() as channel:
        await asyncio.wait_for(channel.channel_ready(), CALL_TIMEOUT_S)
        call = make_kv_call(spec, keyvault_pb2_grpc.KeyVaultServiceStub(channel))
        with _Window(spec) as window:
            result = await run_load(call, concurrency=spec.concurrency, duration_s=spec.duration_s,
                                    warmup_s=spec.warmup_s, max_calls=spec.max_calls)
    return _finish(result, spec, window)


# Raw transit: what one hvac call costs, without the keyvault


def _transit_material(vault: Vault, n: int) -> list[tuple[str, str]]:
    """(ciphertext, plaintext base64) pairs for the raw decrypt rounds, made in batches before the clock."""
    transit, out = vault.client().secrets.transit, []
    for first in range(0, n, SET_UP_BATCH):
        plain = [_b64_key() for _ in range(min(SET_UP_BATCH, n - first))]
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
                data = transit.encrypt_data(vault.key_name, plaintext=_b64_key(), mount_point=vault.mount)["data"]
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
                batch = [{"plaintext": _b64_key()} for _ in range(spec.batch_size)]
                data = transit.encrypt_data(vault.key_name, plaintext="", batch_input=batch,
                                            mount_point=vault.mount)["data"]
                results = data["batch_results"]
                if len(results) != len(batch) or any("error" in r for r in results):
                    raise CallFailed("batch item failed")
            return encrypt_batch
        raise ValueError(f"unknown transit scenario {spec.scenario!r}")

    return factory


def _transit_round(spec: KvRoundSpec) -> dict[str, Any]:
    factory = make_transit_call(spec)
    with _Window(spec) as window:
        result = run_threaded_load(factory, threads=spec.concurrency, duration_s=spec.duration_s,
                                   warmup_s=spec.warmup_s, max_calls=spec.max_calls)
    return _finish(result, spec, window)


def run_kv_round(spec: KvRoundSpec) -> dict[str, Any]:
    """Load-generator entry point (runs in its own process): one keyvault or raw transit round."""
    if spec.scenario in TRANSIT_SCENARIOS:
        return _transit_round(spec)
    return asyncio.run(_kv_round(spec))


# Set-up and end-of-run checks


async def _ensure(target: Target, subjects: list[str], batch: int) -> int:
    async with target.channel() as channel:
        stub = keyvault_pb2_grpc.KeyVaultServiceStub(channel)
        active = 0
        for first in range(0, len(subjects), batch):
            reply = await stub.EnsureSubjectKeys(pb.EnsureSubjectKeysRequest(subject_ids=subjects[first:first + batch]),
                                                 timeout=CALL_TIMEOUT_S * 3)
            active += sum(s.state == pb.KEY_STATE_ACTIVE for s in reply.statuses)
        return active


def ensure_keys(target: Target, subjects: int, batch: int) -> int:
    """Load-generator entry point: keys for the consented subjects (not measured); returns how many are ACTIVE."""
    return asyncio.run(_ensure(target, [consented_subject(i) for i in range(subjects)], batch))


async def _material(target: Target, subjects: int, concurrency: int, spread_s: float) -> list[tuple[str, bytes, bytes]]:
    async with target.channel() as channel:
        stub = keyvault_pb2_grpc.KeyVaultServiceStub(channel)
        gate = asyncio.Semaphore(concurrency)

        async def one(i: int, subject: str) -> tuple[str, bytes, bytes]:
            await asyncio.sleep(i * spread_s / subjects)
            async with gate:
                reply = await stub.GenerateDataKey(pb.GenerateDataKeyRequest(subject_id=subject, purpose_id=PURPOSE_ID),
                                                   timeout=CALL_TIMEOUT_S)
            return subject, reply.wrapped_key, reply.plaintext_key

        return list(await asyncio.gather(*(one(i, consented_subject(i)) for i in range(subjects))))


async def _materials(targets: list[Target], subjects: int, concurrency: int,
                     spread_s: float) -> list[list[tuple[str, bytes, bytes]]]:
    return list(await asyncio.gather(*(_material(t, subjects, concurrency, spread_s) for t in targets)))


def release_material(targets: list[Target], subjects: int, concurrency: int,
                     spread_s: float) -> list[list[tuple[str, bytes, bytes]]]:
    """Load-generator entry point: per keyvault (at the same time), one GenerateDataKey per consented
    subject, kept for the decrypt rounds, started evenly over `spread_s` seconds.

    The first release of a subject puts its key in the keyvault's cache, which forgets it
    key_cache_ttl_s later. Spread out, the entries expire spread out, as in a service that has been
    running for a while (each is put back by the first call after it expired); all made in the same
    second, they would all expire together and the round that catches that moment would unwrap all
    keys at once."""
    return asyncio.run(_materials(targets, subjects, concurrency, spread_s))


async def _code_of(call: Awaitable[object]) -> grpc.StatusCode:
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


def _describe(exc: BaseException) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code()}: {exc.details()}"
    return f"{type(exc).__name__}: {exc}"


async def _checks(target: Target, consent: Target, subject: str, other: str, tag: str) -> dict[str, dict[str, Any]]:
    """Behaviour a fast keyvault must keep. `subject` is consented and used by no round, `other` is a
    consented subject of the rounds (not changed here), `tag` makes the subjects this creates unique
    to one keyvault. A check that fails with an error is recorded as failed; the rest still run."""
    found: dict[str, dict[str, Any]] = {}

    def record(name: str, ok: bool, detail: str = "") -> None:
        found[name] = {"ok": bool(ok), "detail": detail}

    async with target.channel() as channel, consent.channel() as consent_channel:
        kv = keyvault_pb2_grpc.KeyVaultServiceStub(channel)
        gate = consent_pb2_grpc.ConsentServiceStub(consent_channel)
        t = CALL_TIMEOUT_S
        state: dict[str, Any] = {}

        def generate(s: str) -> Awaitable[pb.GenerateDataKeyResponse]:
            return kv.GenerateDataKey(pb.GenerateDataKeyRequest(subject_id=s, purpose_id=PURPOSE_ID), timeout=t)

        def decrypt(s: str, wrapped: bytes) -> Awaitable[pb.DecryptDataKeyResponse]:
            return kv.DecryptDataKey(pb.DecryptDataKeyRequest(subject_id=s, purpose_id=PURPOSE_ID, wrapped_key=wrapped),
                                     timeout=t)

        async def most() -> None:  # the RPC's documented maximum in one call (the bulk rounds use less)
            reply = await kv.EnsureSubjectKeys(pb.EnsureSubjectKeysRequest(
                subject_ids=[f"kv-max-{tag}-{i:04d}" for i in range(1000)]), timeout=t * 6)
            record(NAME_MAX, len(reply.statuses) == 1000 and all(x.state == pb.KEY_STATE_ACTIVE for x in reply.statuses))

        async def unconsented() -> None:
            code = await _code_of(generate(f"kv-nobody-{tag}"))
            record("unconsented subject refused", code == grpc.StatusCode.PERMISSION_DENIED, str(code))

        async def round_trip() -> None:
            key = state["key"] = await generate(subject)
            back = await decrypt(subject, key.wrapped_key)
            record("data key round trip", back.plaintext_key == key.plaintext_key and len(key.plaintext_key) == 32)
            code = await _code_of(decrypt(other, key.wrapped_key))
            record("wrapped key bound to its subject", code == grpc.StatusCode.INVALID_ARGUMENT, str(code))

        async def shred() -> None:
            request = pb.ShredSubjectKeyRequest(subject_id=subject, request_id="bench-check-dsr",
                                                reason="benchmark check", idempotency_key="bench-check-shred")
            first = (await kv.ShredSubjectKey(request, timeout=t)).certificate
            public = await kv.GetCertificateKey(pb.GetCertificateKeyRequest(), timeout=t)
            body = json.loads(first.certificate_json)
            record("certificate signature verifies",
                   verify_signature(public.public_key_pem, first.certificate_json, first.signature)
                   and body["subjectIdSha256"] == hashlib.sha256(subject.encode()).hexdigest()
                   and bool(body["keysDestroyed"]), f"key id {first.key_id}, backend {body.get('backend')}")
            again = (await kv.ShredSubjectKey(request, timeout=t)).certificate
            record("repeated shred returns the first certificate",
                   (again.certificate_json, again.signature) == (first.certificate_json, first.signature))
            codes = (await _code_of(generate(subject)), await _code_of(decrypt(subject, state["key"].wrapped_key)))
            record("no release after shred", codes == (grpc.StatusCode.FAILED_PRECONDITION,) * 2, str(codes))
            ensured = await kv.EnsureSubjectKeys(pb.EnsureSubjectKeysRequest(subject_ids=[subject]), timeout=t)
            record("shredded key never re-created", ensured.statuses[0].state == pb.KEY_STATE_SHREDDED,
                   pb.KeyState.Name(ensured.statuses[0].state))

        async def withdrawal() -> None:  # the next release must be refused at once, not after a cache expires
            withdrawer = f"kv-withdrawn-{tag}"
            await gate.GrantConsent(grant_request(withdrawer), timeout=t)
            await generate(withdrawer)
            await gate.WithdrawConsent(cpb.WithdrawConsentRequest(
                subject_id=withdrawer, purpose_id=PURPOSE_ID, actor=cpb.Actor(kind=cpb.ACTOR_KIND_SUBJECT),
                reason="benchmark check", idempotency_key=f"bench-withdraw-{withdrawer}"), timeout=t)
            code = await _code_of(generate(withdrawer))
            record("no release right after withdrawal", code == grpc.StatusCode.PERMISSION_DENIED, str(code))

        for name, check in ((NAME_MAX, most), ("unconsented subject refused", unconsented),
                            ("data key round trip", round_trip), ("shredding", shred),
                            ("no release right after withdrawal", withdrawal)):
            try:
                await check()
            except Exception as exc:  # noqa: BLE001 - recorded; the other checks still run
                record(name, False, _describe(exc))
    return found


NAME_MAX = "EnsureSubjectKeys takes its documented maximum of 1,000 subjects"


def keyvault_checks(target: Target, consent: Target, subject: str, other: str, tag: str) -> dict[str, dict[str, Any]]:
    """Load-generator entry point: the end-of-run behaviour checks of one keyvault."""
    return asyncio.run(_checks(target, consent, subject, other, tag))
