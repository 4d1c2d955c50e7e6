"""The proof that erasure reaches every copy. One person lives a full life on the platform (two
consents, a child they are guardian of, interactions, receipts, keys and data keys, templates at two
face gates, an access request, a correction, a withdrawal and a re-grant, a sign-in address and
sessions at the portal, by link and by e-mail code), then asks to be deleted.
Once the deletion completed and the bounded retentions (shortened) passed, every table of every
database and every message on every topic is searched for them in every form a program could
match: nothing, apart from keyed tombstones. The same search before the deletion finds them, so the
test can fail."""

import asyncio
import hashlib
import os
from contextlib import ExitStack

import grpc
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from google.protobuf import duration_pb2

from consentry.audit.v1 import audit_pb2 as apb
from consentry.consent.v1 import consent_pb2 as cpb
from consentry.dsr.v1 import dsr_pb2 as pb
from consentry.portal.v1 import portal_pb2 as ppb
from consentry_client import ConsentGate, SubjectErased, TemplateCipher, TemplateRetired, connect
from consentry_client.audit_verify import verify_export
from examples.face_gate.gate import FaceGate
from examples.face_gate.store import FaceStore
from tests.consent.builders import registered_controller
from tests.erasure.stack import CONTROLLER, GATES, RETENTION_S, start_platform
from tests.dsr.test_requests import settled
from tests.erasure_scan import Scan, scan_database, scan_messages
from tests.portal.visitor import Visitor
from tests.support import unique
from tests.legal import requirement

pytestmark = pytest.mark.slow
NOTICE = "Your face template opens the doors. A badge works as well."


def _grant(subject: str, purpose: str, evidence: str, **fields) -> cpb.GrantConsentRequest:
    return cpb.GrantConsentRequest(
        subject_id=subject, purpose_id=purpose, notice_version=1, notice_language="en",
        notice_hash=hashlib.sha256(NOTICE.encode()).hexdigest(), collection_method=cpb.COLLECTION_METHOD_APP_SCREEN,
        evidence_ref=evidence, actor=fields.pop("actor", cpb.Actor(kind=cpb.ACTOR_KIND_SUBJECT)),
        subject_age=fields.pop("subject_age", 30), jurisdiction="CN", alternative_offered=True,
        idempotency_key=unique("grant"), **fields)


async def _purpose(consent, purpose_id: str) -> None:
    retention = duration_pb2.Duration()
    retention.FromSeconds(86400 * 365)
    await consent.RegisterPurpose(cpb.RegisterPurposeRequest(idempotency_key=unique("reg"), purpose=cpb.Purpose(
        purpose_id=purpose_id, controller_id=CONTROLLER, name=purpose_id, data_categories=[cpb.DATA_CATEGORY_FACE_TEMPLATE],
        storage_location=cpb.STORAGE_LOCATION_SERVER, retention=retention, legal_basis=cpb.LEGAL_BASIS_SEPARATE_CONSENT,
        non_face_alternative="Badge", pia_reference="PIA-1", withdrawal_method="App", minimum_age=14)))
    await consent.PublishNotice(cpb.PublishNoticeRequest(purpose_id=purpose_id, idempotency_key=unique("pub"),
                                                         texts=[cpb.PublishNoticeRequest.Text(language="en", text=NOTICE)]))


async def _submitted(dsr, kind: int, subject: str, evidence: str, **fields) -> str:
    return (await dsr.SubmitRequest(pb.SubmitRequestRequest(
        type=kind, subject_id=subject, jurisdiction="CN", idempotency_key=unique("req"), controller_id=CONTROLLER,
        evidence=pb.IdentityEvidence(method="in-person-id-check", reference=evidence), **fields))).request.request_id


async def _completed(dsr, request_id: str) -> pb.Request:
    await dsr.VerifyIdentity(pb.VerifyIdentityRequest(request_id=request_id, verified=True,
                                                      idempotency_key=unique("verify")))
    done = await settled(dsr, request_id, timeout=60)
    assert done.status == pb.REQUEST_STATUS_COMPLETED, done
    return done


async def _every_message(broker) -> list[bytes]:
    """Keys and values of every message on every topic of the broker, from the beginning."""
    consumer = AIOKafkaConsumer(**broker.client_options(), enable_auto_commit=False)
    await consumer.start()
    found: list[bytes] = []
    try:
        topics = await consumer.topics()
        partitions = [TopicPartition(t, p) for t in sorted(topics) for p in sorted(consumer.partitions_for_topic(t))]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        async with asyncio.timeout(60):
            while any([await consumer.position(p) < end[p] for p in partitions]):
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    found += [part for r in records for part in (r.key or b"", r.value or b"")]
    finally:
        await consumer.stop()
    return found


async def _scan_everything(platform, needles: dict[str, str]) -> Scan:
    scan = Scan()
    for dsn in platform.databases.values():
        scan += await scan_database(dsn, needles)
    scan += scan_messages(await _every_message(platform.infra.kafka), needles)
    return scan


async def _signed_in_at_portal(platform, person: str, child: str, guardianship: str) -> None:
    """The person signs in to the portal by link (as their child's guardian) and asks for a code by mail."""
    portal, address = platform.portal(), f"{unique('mail')}@example.com"
    await portal.RegisterContact(ppb.RegisterContactRequest(subject_id=person, jurisdiction="CN", email=address,
                                                            controller_id=CONTROLLER))
    link = await portal.CreateSignInLink(ppb.CreateSignInLinkRequest(
        subject_id=person, jurisdiction="CN", controller_id=CONTROLLER,
        wards=[ppb.Ward(subject_id=child, verification_ref=guardianship, label="Child")]))
    browser = Visitor(platform.portal_url)
    try:
        assert (await browser.sign_in(link.url)).status_code == 303
        assert (await browser.ask_code(CONTROLLER, address)).status_code == 200
        await platform.inbox.next_to(address)
    finally:
        await browser.close()


class Gate:
    """A reference face gate's own code, as the gate: its certificate, its database."""

    def __init__(self, env: dict[str, str], ports: dict[str, int]) -> None:
        self.env, self._ports = env, ports

    async def __aenter__(self) -> FaceGate:
        e = self.env
        tls = dict(ca=e["FACE_GATE_TLS_CA"], cert=e["FACE_GATE_TLS_CERT"], key=e["FACE_GATE_TLS_KEY"])
        self._channels = [connect(e["FACE_GATE_CONSENT_ADDRESS"], **tls), connect(e["FACE_GATE_KEYVAULT_ADDRESS"], **tls)]
        self.gate = FaceGate(await FaceStore.open(e["FACE_GATE_DATABASE_URL"]), ConsentGate(self._channels[0]),
                             TemplateCipher(self._channels[1]))
        return self.gate

    async def __aexit__(self, *_) -> None:
        await self.gate.store.close()
        for channel in self._channels:
            await channel.close()


@requirement("GDPR 17, 19; PIPL 47", "After erasure the person is in no table, topic or store of any service or face system")
async def test_a_deleted_person_is_nowhere(tmp_path):
    doors, lab = unique("doors"), unique("lab")
    person, child = unique("person"), unique("child")
    evidence = {f"evidence-{n}": unique(f"evidence-{n}") for n in ("grant", "regrant", "guardian", "access",
                                                                    "correction", "deletion")}
    reason, new_name = unique("reason"), unique("new-name")
    stack = ExitStack()
    try:
        # In a thread: starting it runs its own event loops (provisioning), and stopping blocks.
        platform = await asyncio.to_thread(start_platform, stack, tmp_path, {GATES[0]: [doors], GATES[1]: [doors, lab]})
        consent, dsr = platform.consent(), platform.dsr()
        try:
            await registered_controller(platform.consent_admin(), CONTROLLER)
            await _purpose(consent, doors)
            await _purpose(consent, lab)
            await consent.GrantConsent(_grant(person, doors, evidence["evidence-grant"]))
            await consent.GrantConsent(_grant(person, lab, evidence["evidence-grant"]))
            await consent.GrantConsent(_grant(child, lab, unique("child-evidence"), subject_age=9, actor=cpb.Actor(
                kind=cpb.ACTOR_KIND_GUARDIAN, guardian_id=person, guardian_verification_ref=evidence["evidence-guardian"])))
            await consent.RecordInteraction(cpb.RecordInteractionRequest(subject_id=person, purpose_id=doors))
            sealed = []
            async with Gate(platform.gates[GATES[0]], platform.ports) as north, \
                    Gate(platform.gates[GATES[1]], platform.ports) as south:
                await north.enrol(person, doors, os.urandom(512), display_name=person)
                await south.enrol(person, doors, os.urandom(512), display_name=person)
                await south.enrol(person, lab, os.urandom(512), display_name=person)
                sealed += [(doors, await north.store.template(person, doors)), (lab, await south.store.template(person, lab))]
                await _completed(dsr, await _submitted(dsr, pb.REQUEST_TYPE_ACCESS, person, evidence["evidence-access"]))
                await consent.WithdrawConsent(cpb.WithdrawConsentRequest(
                    subject_id=person, purpose_id=lab, actor=cpb.Actor(kind=cpb.ACTOR_KIND_SUBJECT), reason=reason,
                    idempotency_key=unique("withdraw")))
                await asyncio.sleep(2)  # the withdrawal request runs on its own
                await consent.GrantConsent(_grant(person, lab, evidence["evidence-regrant"]))
                with pytest.raises(TemplateRetired):  # sealed under the consent withdrawn: never again
                    await south._cipher.open(person, lab, sealed[1][1])
                await south.enrol(person, lab, os.urandom(512), display_name=person)
                sealed.append((lab, await south.store.template(person, lab)))

                await _signed_in_at_portal(platform, person, child, evidence["evidence-guardian"])
                # Last before the deletion: a finished request is forgotten RETENTION_S after it finished,
                # and the scan before the deletion must still find this one's evidence.
                await _completed(dsr, await _submitted(dsr, pb.REQUEST_TYPE_CORRECTION, person,
                                                       evidence["evidence-correction"],
                                                       corrections={"display_name": new_name}))

                needles = {"subject": person, "correction": new_name, "reason": reason, **evidence}
                deletion = await _submitted(dsr, pb.REQUEST_TYPE_DELETION, person, evidence["evidence-deletion"])
                before = await _scan_everything(platform, needles)
                await _completed(dsr, deletion)
                await asyncio.sleep(RETENTION_S * 3)  # every bounded retention, and the pruning after it
                after = await _scan_everything(platform, needles)
                audit = platform.audit()
                export = b"".join([c.data async for c in audit.ExportEvents(apb.ExportEventsRequest())])
                verdict = verify_export(export.decode().splitlines(),
                                        (await audit.GetPublicKey(apb.GetPublicKeyRequest())).public_key_pem)
                in_export = scan_messages([export], needles)

                cipher = south._cipher
                for purpose, blob in sealed:
                    with pytest.raises(SubjectErased):
                        await cipher.open(person, purpose, blob)
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await consent.GrantConsent(_grant(person, doors, unique("again")))
            assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        finally:
            await platform.close()
    finally:
        await asyncio.to_thread(stack.close)

    found_before = {label for _, label, _ in before.hits}
    assert {"contacts", "sign_in_links", "sign_in_codes", "sessions", "stored_face_data_subjects"} <= {
        t for t, _, _ in before.hits}
    print(f"\nscanned: {after.tables} tables, {after.rows} rows and messages; before the deletion"
          f" {len(before.hits)} hits, after {len(after.hits)}")
    assert found_before == set(needles), found_before  # every needle was somewhere: the scan can fail
    where = sorted({(table, label) for table, label, _ in after.hits})
    assert after.hits == [], "\n".join(f"{t}: {label}" for t, label in where)
    # The log still proves itself offline, and what a DPO exports of it holds nobody either.
    assert verdict.ok and export.count(b"\n") > 20, verdict.problems
    assert in_export.hits == []
