"""The dsr section's end-of-run behaviour checks, run in the load-generator process after every round:
what fast deletions must still have done (every request COMPLETED by both gates, the templates gone
from both gates' databases, the key shredded with a certificate that verifies, consent erased, a copy
of a template taken before the deletion unreadable), each beside subjects that were enrolled the same
way and not deleted, for which the same predicates must answer the other way."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

import grpc

from bench.consent_scenarios import CALL_TIMEOUT_S
from bench.dsr_scenarios import Endpoints
from consentry.consent.v1 import consent_pb2 as cpb
from consentry.consent.v1 import consent_pb2_grpc
from consentry.dsr.v1 import dsr_pb2 as pb
from consentry.dsr.v1 import dsr_pb2_grpc
from consentry.keyvault.v1 import keyvault_pb2 as kpb
from consentry.keyvault.v1 import keyvault_pb2_grpc
from consentry_client import ConsentRefused, SubjectErased, TemplateCipher
from examples.face_gate.store import FaceStore
from services.common.signing import verify_signature

OTHER_STATUSES = [s for s in pb.RequestStatus.values() if s not in (pb.REQUEST_STATUS_UNSPECIFIED,
                                                                      pb.REQUEST_STATUS_COMPLETED)]


@dataclass(frozen=True)
class CheckSpec:
    endpoints: Endpoints
    deleted: tuple[tuple[str, str], ...]  # (subject, request id) sampled from the rounds
    controls: tuple[str, ...]  # enrolled at both gates, never deleted
    seized: dict[str, bytes]  # gate A's blob of some deleted subjects and a control, copied before the rounds
    requests: int  # deletion requests submitted in the whole section
    gates: tuple[str, ...]


def _describe(exc: BaseException) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code()}: {exc.details()}"
    return f"{type(exc).__name__}: {exc}"


async def _listed(stub: dsr_pb2_grpc.DsrServiceStub, status: int) -> int:
    count, token = 0, ""
    while True:
        page = await stub.ListRequests(pb.ListRequestsRequest(status=status, page_size=500, page_token=token),
                                       timeout=CALL_TIMEOUT_S * 6)
        count += len(page.requests)
        token = page.next_page_token
        if not token:
            return count


async def _checks(spec: CheckSpec) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    ep = spec.endpoints

    def record(name: str, ok: bool, detail: str = "") -> None:
        found[name] = {"ok": bool(ok), "detail": detail}

    stores = {name: await FaceStore.open(dsn) for name, dsn in ep.gate_dsns.items()}
    keyvault_for_gate = ep.gate_channel("keyvault", spec.gates[0])  # the blobs were copied from the first gate
    async with ep.dsr.channel() as d, ep.keyvault.channel() as k, ep.consent.channel() as c:
        dsr, kv = dsr_pb2_grpc.DsrServiceStub(d), keyvault_pb2_grpc.KeyVaultServiceStub(k)
        consent = consent_pb2_grpc.ConsentServiceStub(c)
        deleted = [s for s, _ in spec.deleted]

        async def statuses() -> None:
            began = time.monotonic()
            completed = await _listed(dsr, pb.REQUEST_STATUS_COMPLETED)
            seconds = time.monotonic() - began
            others = {pb.RequestStatus.Name(s): await _listed(dsr, s) for s in OTHER_STATUSES}
            record("every request COMPLETED (ListRequests)",
                   completed == spec.requests and not any(others.values()),
                   f"{completed} of {spec.requests} listed COMPLETED (paging took {seconds:.1f}s);"
                   f" in other states: {others}")

        async def requests() -> None:
            public = (await kv.GetCertificateKey(kpb.GetCertificateKeyRequest(), timeout=CALL_TIMEOUT_S)).public_key_pem
            wrong = []
            for subject_id, request_id in spec.deleted:
                r = (await dsr.GetRequest(pb.GetRequestRequest(request_id=request_id), timeout=CALL_TIMEOUT_S)).request
                body = json.loads(r.deletion_certificate or b"{}")
                checked = await kv.VerifyCertificate(kpb.VerifyCertificateRequest(
                    subject_id=subject_id, certificate=kpb.DeletionCertificate(
                        certificate_json=r.deletion_certificate, signature=r.deletion_certificate_signature)),
                    timeout=CALL_TIMEOUT_S)
                good = (r.subject_id == subject_id and r.status == pb.REQUEST_STATUS_COMPLETED
                        and {t.processor: t.state for t in r.tasks} == dict.fromkeys(spec.gates, "CONFIRMED")
                        and verify_signature(public, r.deletion_certificate, r.deletion_certificate_signature)
                        and checked.signature_valid and checked.names_subject
                        and bool(body.get("keysDestroyed")))
                if not good:
                    wrong.append(subject_id)
            record("sampled requests: both gates CONFIRMED, certificate verifies", not wrong and bool(spec.deleted),
                   f"{len(spec.deleted) - len(wrong)} of {len(spec.deleted)} sampled; wrong: {wrong[:5]}")

        async def templates() -> None:
            held = {s: [name for name, store in stores.items() if await store.template(s, ep.purpose) is not None
                        or (await store.record_of(s))["profile"]] for s in (*deleted, *spec.controls)}
            left = [s for s in deleted if held[s]]
            record("sampled subjects: nothing left at either gate", not left and bool(deleted),
                   f"{len(deleted)} sampled; still held: {left[:5]}")
            kept = [s for s in spec.controls if sorted(held[s]) != sorted(spec.gates)]
            record("controls (not deleted): still enrolled at both gates", not kept and bool(spec.controls),
                   f"{len(spec.controls)} controls; missing at a gate: {kept}")
            counts = {name: await store.count() for name, store in stores.items()}
            record("every gate holds only the controls' templates",
                   counts == dict.fromkeys(spec.gates, len(spec.controls)), f"templates per gate: {counts}")

        async def keys() -> None:
            async def state(s: str) -> int:
                return (await kv.GetKeyStatus(kpb.GetKeyStatusRequest(subject_id=s), timeout=CALL_TIMEOUT_S)).state
            states = {s: await state(s) for s in (*deleted, *spec.controls)}
            shredded = [s for s in deleted if states[s] == kpb.KEY_STATE_SHREDDED]
            record("sampled subjects: key SHREDDED (keyvault)", len(shredded) == len(deleted) and bool(deleted),
                   f"{len(shredded)} of {len(deleted)} SHREDDED")
            active = [s for s in spec.controls if states[s] == kpb.KEY_STATE_ACTIVE]
            record("controls: key ACTIVE", len(active) == len(spec.controls) and bool(spec.controls),
                   f"{len(active)} of {len(spec.controls)} ACTIVE")

        async def consents() -> None:
            async def decision(s: str) -> tuple[int, int]:
                a = await consent.CheckConsent(cpb.CheckConsentRequest(subject_id=s, purpose_id=ep.purpose),
                                               timeout=CALL_TIMEOUT_S)
                return a.decision, a.reason
            erased = [s for s in deleted if await decision(s) == (cpb.DECISION_DENY, cpb.DENY_REASON_SUBJECT_ERASED)]
            allowed = [s for s in spec.controls if (await decision(s))[0] == cpb.DECISION_ALLOW]
            record("sampled subjects: consent DENY/SUBJECT_ERASED, controls ALLOW",
                   len(erased) == len(deleted) and len(allowed) == len(spec.controls) and bool(deleted),
                   f"{len(erased)} of {len(deleted)} erased; {len(allowed)} of {len(spec.controls)} controls allowed")

        async def seized() -> None:
            cipher = TemplateCipher(keyvault_for_gate, timeout=CALL_TIMEOUT_S)
            outcomes = {}
            for s, blob in spec.seized.items():
                try:
                    await cipher.open(s, ep.purpose, blob)
                    outcomes[s] = "opened"
                except (ConsentRefused, SubjectErased) as refused:
                    outcomes[s] = type(refused).__name__
            gone = [v for s, v in outcomes.items() if s not in spec.controls]
            kept = [v for s, v in outcomes.items() if s in spec.controls]
            record("a template copied before deletion no longer opens (a control's still does)",
                   bool(gone) and "opened" not in gone and bool(kept) and set(kept) == {"opened"}, str(outcomes))

        for name, check in (("statuses", statuses), ("requests", requests), ("templates", templates),
                            ("keys", keys), ("consents", consents), ("seized", seized)):
            try:
                await check()
            except Exception as exc:  # noqa: BLE001 - recorded; the other checks still run
                record(name, False, _describe(exc))
    await keyvault_for_gate.close()
    for store in stores.values():
        await store.close()
    return found


def dsr_checks(spec: CheckSpec) -> dict[str, dict[str, Any]]:
    """Load-generator entry point: the end-of-run behaviour checks of the dsr section."""
    return asyncio.run(_checks(spec))
