"""Two controllers on the fuzz stack, each with a purpose, the SAME person consented at both, a data
key and a sealed template, a processor of its own with a task, a request, a face event in the log
and a deletion certificate: what a client of one must never reach at the other."""

import asyncio
import uuid
from dataclasses import dataclass, replace

import asyncpg
from google.protobuf import timestamp_pb2

from consentry.audit.v1 import audit_pb2 as apb
from consentry.audit.v1 import audit_pb2_grpc
from consentry.consent.v1 import consent_admin_pb2_grpc
from consentry.consent.v1 import consent_pb2_grpc
from consentry.dsr.v1 import dsr_pb2 as dpb
from consentry.events.v1 import envelope_pb2
from consentry.dsr.v1 import dsr_pb2_grpc
from consentry.keyvault.v1 import keyvault_admin_pb2 as kapb
from consentry.keyvault.v1 import keyvault_admin_pb2_grpc
from consentry.keyvault.v1 import keyvault_pb2 as kpb
from consentry.keyvault.v1 import keyvault_pb2_grpc
from services.common.event_keys import EventKey, seal
from tests.consent.builders import grant, registered_controller, registered_purpose
from tests.fuzz.stack import FuzzStack
from tests.support import secure_channel, unique

# Each controller's face system: registers its processor, appends its face events; granted every RPC.
SYSTEMS = {"walk-a": "walker-a", "walk-b": "walker-b"}


@dataclass(frozen=True)
class Ids:
    """What a request can name. `person` is the same person id at both controllers."""
    controller: str
    purpose: str
    person: str
    request: str
    processor: str
    task: str
    shredded: str  # a subject whose key was shredded, with `certificate`
    certificate: kpb.DeletionCertificate
    wrapped_key: bytes
    ciphertext: bytes
    event: str
    leaf: int
    envelope: envelope_pb2.EventEnvelope  # an event of consent about `person`, sealed as the relay does


    def strings(self) -> dict[str, str]:
        return {name: value for name, value in vars(self).items() if isinstance(value, str) and value}

    def unknown(self) -> "Ids":
        """Ids nobody has, of the same shapes; opaque blobs (keys, ciphertexts, certificates) stay these."""
        envelope = envelope_pb2.EventEnvelope()
        envelope.CopyFrom(self.envelope)
        envelope.event_key_id = str(uuid.uuid4())
        return replace(self, controller=unique("nobody"), purpose=unique("no-purpose"), person=unique("no-person"),
                       request=str(uuid.uuid4()), processor=unique("no-processor"), task=str(uuid.uuid4()),
                       shredded=unique("no-person"), event=str(uuid.uuid4()), envelope=envelope)


async def _until(probe, timeout: float = 30.0):  # noqa: ASYNC109
    async with asyncio.timeout(timeout):
        while (found := await probe()) is None:  # noqa: ASYNC110 - polls the services
            await asyncio.sleep(0.2)
        return found


async def seed_controller(stack: FuzzStack, person: str, controller: str) -> Ids:
    """As the operator (the fuzzer) for `controller`, and as the controller's face system."""
    operator = {name: stack.channel(name) for name in ("consent", "keyvault", "dsr", "audit")}
    system = {name: secure_channel(stack.ca, stack.apps[name].port, SYSTEMS[controller]) for name in ("dsr", "audit")}
    try:
        consent = consent_pb2_grpc.ConsentServiceStub(operator["consent"])
        await registered_controller(consent_admin_pb2_grpc.ConsentAdminServiceStub(operator["consent"]), controller)
        purpose = (await registered_purpose(consent, controller_id=controller)).purpose_id
        await consent.GrantConsent(grant(person, purpose))

        keyvault = keyvault_pb2_grpc.KeyVaultServiceStub(operator["keyvault"])
        wrapped = (await keyvault.GenerateDataKey(kpb.GenerateDataKeyRequest(
            subject_id=person, purpose_id=purpose, controller_id=controller))).wrapped_key
        sealed = (await keyvault.Encrypt(kpb.EncryptRequest(
            subject_id=person, purpose_id=purpose, plaintext=b"face template", controller_id=controller))).ciphertext
        shredded = unique("shredded")
        await keyvault.EnsureSubjectKey(kpb.EnsureSubjectKeyRequest(subject_id=shredded, controller_id=controller))
        certificate = (await keyvault_admin_pb2_grpc.KeyVaultAdminServiceStub(operator["keyvault"]).ShredSubjectKey(
            kapb.ShredSubjectKeyRequest(subject_id=shredded, request_id=str(uuid.uuid4()), reason="walk",
                                        idempotency_key=unique("shred"), controller_id=controller))).certificate

        processor = (await dsr_pb2_grpc.DsrServiceStub(system["dsr"]).RegisterProcessor(dpb.RegisterProcessorRequest(
            capabilities=[dpb.CAPABILITY_ACCESS, dpb.CAPABILITY_DELETE], purpose_ids=[purpose]))).processor.name
        dsr = dsr_pb2_grpc.DsrServiceStub(operator["dsr"])
        request = (await dsr.SubmitRequest(dpb.SubmitRequestRequest(
            type=dpb.REQUEST_TYPE_ACCESS, subject_id=person, jurisdiction="DE", controller_id=controller,
            evidence=dpb.IdentityEvidence(method="in-person-id-check", reference="desk-7/2291"),
            idempotency_key=unique("walk")))).request.request_id
        await dsr.VerifyIdentity(dpb.VerifyIdentityRequest(request_id=request, verified=True,
                                                           idempotency_key=unique("walk")))
        task = await _until(lambda: _task_of(stack, request))

        event = str(uuid.uuid4())
        now = timestamp_pb2.Timestamp()
        now.GetCurrentTime()
        await audit_pb2_grpc.AuditServiceStub(system["audit"]).Append(apb.AppendRequest(events=[apb.FaceSystemEvent(
            event_id=event, type="face.enrolled", subject_id=person, occurred_at=now, device_id="gate-3")]))
        audit = audit_pb2_grpc.AuditServiceStub(operator["audit"])
        leaf = await _until(lambda: _leaf_of(audit, event, controller))
        envelope = await _until(lambda: _sealed_for(stack, person, controller))
        return Ids(controller, purpose, person, request, processor, task, shredded, certificate, wrapped, sealed,
                   event, leaf, envelope)
    finally:
        for channel in system.values():
            await channel.close()


async def _task_of(stack: FuzzStack, request_id: str) -> str | None:
    conn = await asyncpg.connect(stack.dsns["dsr"])
    try:
        return await conn.fetchval("SELECT task_id FROM tasks WHERE request_id = $1 LIMIT 1", request_id)
    finally:
        await conn.close()


async def _sealed_for(stack: FuzzStack, person: str, controller: str) -> envelope_pb2.EventEnvelope | None:
    """An envelope of consent about the person, sealed under the controller's event key for them."""
    conn = await asyncpg.connect(stack.dsns["consent"])
    try:
        row = await conn.fetchrow("SELECT key_id, key FROM event_keys WHERE controller_id = $1 AND key IS NOT NULL"
                                  " ORDER BY created_at DESC LIMIT 1", controller)
    finally:
        await conn.close()
    if row is None:
        return None
    event_id, key = str(uuid.uuid4()), EventKey(str(row["key_id"]), row["key"])
    return envelope_pb2.EventEnvelope(
        event_id=event_id, type="consent.granted", producer="consent", sequence=1, controller_id=controller,
        event_key_id=key.key_id, sealed=seal(key, event_id, envelope_pb2.SealedContent(subject_id=person)))


async def _leaf_of(audit, event_id: str, controller: str) -> int | None:
    """The leaf of the face event, once the sequencer integrated it (None until then)."""
    answer = await audit.QueryEvents(apb.QueryEventsRequest(
        filter=apb.EventFilter(type="face.enrolled", controller_id=controller), page_size=1000))
    return next((e.leaf_index for e in answer.entries if event_id.encode() in e.entry_json), None)
