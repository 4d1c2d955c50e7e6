"""The keyvault section's end-of-run behaviour checks: what a fast keyvault must still do (refuse,
bind, shred, certify), run in the load-generator process against each keyvault after every round."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from typing import Any

import grpc

from bench.consent_scenarios import CALL_TIMEOUT_S, PURPOSE_ID, Target, grant_request
from consentry.consent.v1 import consent_pb2 as cpb
from consentry.consent.v1 import consent_pb2_grpc
from consentry.keyvault.v1 import keyvault_pb2 as pb
from consentry.keyvault.v1 import keyvault_pb2_grpc
from services.common.signing import verify_signature


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
            # Only keyvault can tell whether the certificate's keyed tag is this subject's.
            checked = await kv.VerifyCertificate(pb.VerifyCertificateRequest(subject_id=subject, certificate=first),
                                                 timeout=t)
            record("certificate signature verifies",
                   verify_signature(public.public_key_pem, first.certificate_json, first.signature)
                   and checked.signature_valid and checked.names_subject
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
