"""A small seeded world (a purpose with a published notice, consented subjects, a subject key, dsr
requests, an audit event) whose ids the strategies prefer for id-like fields, so fuzzed requests
reach past "not found" into the code behind it."""

import asyncio
import base64
import uuid
from dataclasses import dataclass

import asyncpg
import grpc
from google.protobuf import timestamp_pb2
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from consentry.audit.v1 import audit_pb2 as apb
from consentry.audit.v1 import audit_pb2_grpc
from consentry.consent.v1 import consent_admin_pb2_grpc
from consentry.consent.v1 import consent_pb2 as cpb
from consentry.consent.v1 import consent_pb2_grpc
from consentry.dsr.v1 import dsr_pb2 as dpb
from consentry.dsr.v1 import dsr_pb2_grpc
from consentry.keyvault.v1 import keyvault_pb2 as kpb
from consentry.keyvault.v1 import keyvault_pb2_grpc
from services.consent.domain.model import content_hash
from tests.consent.builders import NOTICE_EN, NOTICE_ZH, grant, registered_controller, registered_purpose
from tests.fuzz.stack import CONTROLLERS, FUZZER, PRODUCERS, FuzzStack
from tests.fuzz.values import IDENTIFIER
from tests.support import unique

CONTROLLER = CONTROLLERS[0]


@dataclass
class World:
    values: dict[str, SearchStrategy]  # "Message.field" or "field" -> known-good values

    def known(self, desc, field) -> SearchStrategy | None:
        found = self.values.get(f"{desc.name}.{field.name}")
        return self.values.get(field.name) if found is None else found


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


async def _checkpoint_size(audit, timeout: float = 20.0) -> int:  # noqa: ASYNC109
    """The log's size once the sequencer signed a first checkpoint (0 if it did not in time)."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                try:
                    size = (await audit.GetCheckpoint(apb.GetCheckpointRequest())).checkpoint.tree_size
                    if size > 1:
                        return size
                except grpc.aio.AioRpcError:
                    pass
                await asyncio.sleep(0.2)
    except TimeoutError:
        return 0


async def _event_key_ids(stack: FuzzStack) -> list[str]:
    """A few ids of the people's event keys at each producer (made as their relays sealed events)."""
    found = []
    for producer in PRODUCERS:
        conn = await asyncpg.connect(stack.dsns[producer])
        try:
            found += [str(r["key_id"]) for r in await conn.fetch("SELECT key_id FROM event_keys LIMIT 3")]
        finally:
            await conn.close()
    return found


async def seed(stack: FuzzStack) -> World:
    consent = consent_pb2_grpc.ConsentServiceStub(stack.channel("consent"))
    keyvault = keyvault_pb2_grpc.KeyVaultServiceStub(stack.channel("keyvault"))
    dsr = dsr_pb2_grpc.DsrServiceStub(stack.channel("dsr"))
    audit = audit_pb2_grpc.AuditServiceStub(stack.channel("audit"))

    consent_admin = consent_admin_pb2_grpc.ConsentAdminServiceStub(stack.channel("consent"))
    await registered_controller(consent_admin, CONTROLLER)
    purpose = (await registered_purpose(consent, controller_id=CONTROLLER)).purpose_id
    subjects = [unique("fuzz-subject") for _ in range(3)]  # consented, consented, unknown
    receipts = [(await consent.GrantConsent(grant(subject, purpose))).receipt for subject in subjects[:2]]
    await consent.GrantConsent(grant(subjects[0], purpose))  # a renewal: a history of two pages of one
    history_token = (await consent.GetConsentHistory(cpb.GetConsentHistoryRequest(
        subject_id=subjects[0], purpose_id=purpose, page_size=1))).next_page_token
    # The fuzzer is an operator: keyvault calls about a subject name the controller they act in.
    wrapped = (await keyvault.GenerateDataKey(kpb.GenerateDataKeyRequest(
        subject_id=subjects[0], purpose_id=purpose, controller_id=CONTROLLER))).wrapped_key
    sealed = (await keyvault.Encrypt(kpb.EncryptRequest(subject_id=subjects[0], purpose_id=purpose,
                                                        plaintext=b"face template", controller_id=CONTROLLER))).ciphertext
    refs = (await keyvault.GetSubjectRefs(kpb.GetSubjectRefsRequest(subject_ids=subjects[:2],
                                                                    controller_id=CONTROLLER))).refs

    # No processor is registered (fuzzing RegisterProcessor adds some): the verified ACCESS request
    # then completes with Consentry's own part, so GetExport has an export to render.
    evidence = dpb.IdentityEvidence(method="in-person-id-check", reference="desk-7/2291")
    request_ids = [(await dsr.SubmitRequest(dpb.SubmitRequestRequest(
        type=kind, subject_id=subject, jurisdiction="DE", evidence=evidence, idempotency_key=unique("fuzz"),
        controller_id=CONTROLLER)
    )).request.request_id for kind, subject in ((dpb.REQUEST_TYPE_ACCESS, subjects[0]),
                                                (dpb.REQUEST_TYPE_ACCESS, subjects[1]),
                                                (dpb.REQUEST_TYPE_DELETION, subjects[2]))]
    await dsr.VerifyIdentity(dpb.VerifyIdentityRequest(request_id=request_ids[1], verified=True,
                                                       idempotency_key=unique("fuzz")))
    dsr_token = (await dsr.ListRequests(dpb.ListRequestsRequest(page_size=1))).next_page_token

    event_id = str(uuid.uuid4())
    now = timestamp_pb2.Timestamp()
    now.GetCurrentTime()
    await audit.Append(apb.AppendRequest(events=[apb.FaceSystemEvent(
        event_id=event_id, type="face.enrolled", subject_id=subjects[0], occurred_at=now,
        device_id="gate-3")], controller_id=CONTROLLER))
    size = await _checkpoint_size(audit)
    audit_token = (await audit.QueryEvents(apb.QueryEventsRequest(page_size=1))).next_page_token
    key_ids = await _event_key_ids(stack)

    def one_of(*values) -> SearchStrategy:
        return st.sampled_from(values)

    def mostly(known: SearchStrategy, other: SearchStrategy = IDENTIFIER) -> SearchStrategy:
        return st.one_of(known, known, known, other)

    subject, purpose_id = mostly(one_of(*subjects)), mostly(one_of(purpose))
    # Not drawn by hypothesis, which draws the same few uuids again and again: a new one every time.
    fresh = st.builds(lambda: unique("fuzz"))
    event_ids = st.builds(lambda: str(uuid.uuid4()))
    return World({
        "subject_id": subject, "subject_ids": subject, "purpose_id": purpose_id, "purpose_ids": purpose_id,
        "controller_id": one_of(CONTROLLER),
        # A new controller at times, else the seeded one again (the same details, or a conflict).
        "Controller.controller_id": mostly(one_of(CONTROLLER), fresh),
        "Controller.legal_name": one_of(f"{CONTROLLER} Ltd.", "Fuzz Campus Property Management Co., Ltd."),
        "Controller.address": one_of("88 Science Park Road, Shenzhen", "1 Fuzz Street, Berlin"),
        "Controller.contact": one_of("dpo@acme-campus.example", "+86 755 1234 5678", "(312) 555-0100"),
        "request_id": mostly(one_of(*request_ids)),
        # At times a replay (or a conflict) of an earlier request.
        "idempotency_key": st.one_of([fresh] * 7 + [one_of("fuzz-reused-key")]),
        # consent
        "notice_version": mostly(one_of(1), one_of(2)),
        "notice_language": mostly(one_of("en"), one_of("zh-CN")),
        "notice_hash": mostly(one_of(content_hash(NOTICE_EN)), one_of(content_hash(NOTICE_ZH))),
        "language": one_of("en", "zh-CN", "fr", "de-DE"),
        "Text.text": one_of(NOTICE_EN, NOTICE_ZH, "Updated notice: we now also store a liveness score."),
        # A guardian is what wild requests try; a good actor is the subject themself.
        "Actor.kind": one_of(cpb.ACTOR_KIND_SUBJECT), "Actor.guardian_id": one_of(""),
        "Actor.guardian_verification_ref": one_of(""),
        "jurisdiction": one_of("CN", "EU", "US-IL", "US-CA", "DE", "BR"),
        "subject_age": mostly(one_of(30), one_of(17, 8)), "minimum_age": one_of(0, 14, 18),
        "current_notice_version": one_of(0), "Purpose.name": one_of("Gate access by face"),
        # A real receipt, its signature and key: fuzzing reaches past the signature into the page.
        "RenderReceiptRequest.receipt_json": one_of(receipts[0].receipt_json),
        "RenderReceiptRequest.signature": one_of(receipts[0].signature, receipts[1].signature),
        "RenderReceiptRequest.key_id": one_of(receipts[0].key_id),
        # keyvault
        "wrapped_key": one_of(wrapped), "ciphertext": one_of(sealed),
        # Never the seeded controller: offboarding it would destroy every later world's keys with it.
        "OffboardControllerRequest.controller_id": fresh,
        # dsr
        # A processor's name is its caller's identity: the fuzzer's own, or one it may not claim.
        "RegisterProcessorRequest.name": one_of(FUZZER) | fresh,
        "DeregisterProcessorRequest.name": one_of(FUZZER) | fresh,
        "IdentityEvidence.method": one_of("in-person-id-check", "authenticated-session"),
        "RejectionReason.code": one_of("manifestly-unfounded", "excessive", "identity-not-verified"),
        # Above every maximum too: the maximum answers.
        "page_size": one_of(0, 1, 10, 100, 5000), "due_within_days": one_of(0, 30),
        # audit
        "FaceSystemEvent.event_id": mostly(event_ids, one_of(event_id)),
        "FaceSystemEvent.type": one_of("face.enrolled", "face.match.attempted"),
        "EventFilter.type": one_of("consent.granted", "face.enrolled", "key.released"),
        "result": one_of("match", "no-match"), "score": st.floats(0.0, 1.0), "sequence": st.integers(0, 5),
        "producer": one_of(FUZZER, "consent", "keyvault", "dsr"),
        "subject_ref": one_of(*(r.subject_ref for r in refs if r.subject_ref)),
        "leaf_index": st.integers(0, size), "tree_size": one_of(0, size), "new_size": one_of(0, size),
        "old_size": one_of(size) | st.integers(1, max(1, size)),  # proofs exist only at signed sizes
        "since_tree_size": one_of(0, 1, size),
        # EventService (on every producer): envelopes of one of them, naming their real event keys.
        "EventEnvelope.producer": mostly(one_of(*PRODUCERS)),
        "EventEnvelope.event_id": event_ids,
        "EventEnvelope.event_key_id": mostly(one_of(*key_ids), event_ids) if key_ids else event_ids,
        # No token, real ones, and forged ones (huge numbers, odd dates, a NUL): a real token only
        # continues the query it was made for, so the first page must stay reachable.
        "QueryEventsRequest.page_token": one_of(
            "", "", *filter(None, [audit_token]), _b64(f"0:{2**70}"), _b64("-1:1"), _b64("5:3"),
            _b64(f"{2**63}:{2**63}"), _b64("a:b")),
        # consent's lists: a real token of one history (refused for any other query) and forged ones.
        "page_token": one_of("", "", *filter(None, [history_token]), _b64('["~"]'), _b64("[99]"),
                             _b64("\0" * 16 + '["a"]'), _b64("[]")),
        "ListRequestsRequest.page_token": one_of(
            "", "", *filter(None, [dsr_token]), _b64("0|9999-12-31T23:59:59+00:00|x"),
            _b64(f"7|2026-01-01|{request_ids[0]}"), _b64("1|not-a-date|x"),
            _b64("0|2026-01-01T00:00:00+00:00|\x00"), _b64(f"{2**70}|2026-01-01|x")),
        # A ListRequests token is no ListProcessors token; nor is a position without its signature.
        "ListProcessorsRequest.page_token": one_of(
            "", "", *filter(None, [dsr_token]), _b64('["door-a"]'), _b64(f"{'A' * 21}[1]")),
    })
