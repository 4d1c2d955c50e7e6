"""The audit log end to end: consent and keyvault events arrive from Kafka, face systems append
their own, every entry is provable against a signed checkpoint, and no entry names a person."""

import asyncio
import json
import uuid

import asyncpg
import grpc
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from google.protobuf import timestamp_pb2

from consentry.keyvault.v1 import keyvault_admin_pb2 as kv_admin_pb
from consentry.audit.v1 import audit_pb2 as pb
from consentry.events.v1 import envelope_pb2
from consentry.keyvault.v1 import keyvault_pb2 as kpb
from services.audit.domain import merkle, proofs
from services.audit.domain.checkpoint import verify_checkpoint
from services.common.topics import CONSENT_EVENTS
from tests.consent.builders import grant
from tests.keyvault.test_data_keys import consented
from tests.support import unique
from tests.legal import requirement

pytestmark = pytest.mark.parametrize("backend", ["wrapped"], indirect=True, scope="session")
CONTROLLER = "acme-campus"  # the test clients' controller, and the audit's default one (fixtures.py)


def face_event(subject: str, event_type: str = "face.match.attempted", **fields) -> pb.FaceSystemEvent:
    occurred = timestamp_pb2.Timestamp()
    occurred.GetCurrentTime()
    return pb.FaceSystemEvent(event_id=str(uuid.uuid4()), type=event_type, subject_id=subject,
                              occurred_at=occurred, **fields)


async def entries_of(dpo, subject: str, until=lambda entries: bool(entries), timeout: float = 20.0,  # noqa: ASYNC109
                     kind: str = "", controller: str = CONTROLLER) -> list[dict]:
    """The subject's entries at the controller (only those whose type starts with `kind`) once `until`
    holds (the sequencer integrates in batches). A controller's DPO may pass controller="" (its own)."""
    async with asyncio.timeout(timeout):
        while True:
            answer = await dpo.QueryEvents(pb.QueryEventsRequest(
                filter=pb.EventFilter(subject_id=subject, controller_id=controller), page_size=1000))
            entries = [entry for entry in map(json.loads, (e.entry_json for e in answer.entries))
                       if entry["type"].startswith(kind)]
            if until(entries):
                return entries
            await asyncio.sleep(0.1)


async def test_consent_and_key_events_reach_the_log_under_the_subject_reference_only(
        admin, gate, face, dpo, backend):
    subject, purpose = await consented(admin, gate)
    await face.GenerateDataKey(kpb.GenerateDataKeyRequest(subject_id=subject, purpose_id=purpose))

    entries = await entries_of(dpo, subject, until=lambda es: {"consent.granted", "keyvault.key.released"}
                               <= {e["type"] for e in es})

    refs = {e["subjectRef"] for e in entries}
    assert len(refs) == 1 and len(refs.pop()) == 64
    assert {e["producer"] for e in entries} >= {"consent", "keyvault"}
    assert all(subject not in json.dumps(e) for e in entries)


async def test_the_log_names_a_subject_by_the_reference_keyvault_gives_it(admin, gate, face, kv_admin, dpo, backend):
    subject, purpose = await consented(admin, gate)
    await face.GenerateDataKey(kpb.GenerateDataKeyRequest(subject_id=subject, purpose_id=purpose))
    [given] = (await kv_admin.GetSubjectRefs(kpb.GetSubjectRefsRequest(subject_ids=[subject],
                                                                       controller_id=CONTROLLER))).refs

    by_subject = await entries_of(dpo, subject, until=lambda es: {"consent.granted", "keyvault.key.released"}
                                  <= {e["type"] for e in es})
    by_reference = await dpo.QueryEvents(pb.QueryEventsRequest(filter=pb.EventFilter(subject_ref=given.subject_ref),
                                                               page_size=1000))

    assert given.state == kpb.KEY_STATE_ACTIVE and len(given.subject_ref) == 64
    assert {e["subjectRef"] for e in by_subject} == {given.subject_ref}
    assert {json.loads(e.entry_json)["eventId"] for e in by_reference.entries} >= {e["eventId"] for e in by_subject}


async def _raw_record(broker, topic: str, event_id: str) -> tuple[bytes | None, bytes]:
    """The key and value of the message on the topic that carries this event, exactly as published."""
    consumer = AIOKafkaConsumer(**broker.client_options(), enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        async with asyncio.timeout(20):
            while True:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    for r in records:
                        if envelope_pb2.EventEnvelope.FromString(r.value).event_id == event_id:
                            return r.key, r.value
    finally:
        await consumer.stop()


async def test_an_event_delivered_twice_over_kafka_is_logged_once(admin, gate, kafka, postgres, dpo, backend):
    subject, _ = await consented(admin, gate)
    [granted] = await entries_of(dpo, subject, kind="consent.granted")
    key, value = await _raw_record(kafka, CONSENT_EVENTS, granted["eventId"])

    producer = AIOKafkaProducer(**kafka.client_options(), acks="all")
    await producer.start()
    try:
        sent = await (await producer.send(CONSENT_EVENTS, value, key=key))
    finally:
        await producer.stop()
    read_up_to = "SELECT coalesce(max(next_offset), 0) FROM consumer_offsets WHERE topic = $1 AND partition = $2"
    conn = await asyncpg.connect(postgres.dsn("audit"))
    try:
        async with asyncio.timeout(20):  # until the sequencer has read past the second delivery
            while await conn.fetchval(read_up_to, CONSENT_EVENTS, sent.partition) <= sent.offset:  # noqa: ASYNC110
                await asyncio.sleep(0.1)
        leaves = await conn.fetchval("SELECT count(*) FROM entries WHERE event_id = $1", uuid.UUID(granted["eventId"]))
    finally:
        await conn.close()

    assert leaves == 1
    assert [e["eventId"] for e in await entries_of(dpo, subject, kind="consent.granted")] == [granted["eventId"]]


@requirement("EDPB Guidelines 05/2022", "Face systems log match attempts (result, score, device) and enrolments in the audit trail")
async def test_face_system_events_are_appended_once_per_event_id(face_events, dpo, backend):
    subject = unique("subj")
    attempt = face_event(subject, result="match", score=0.93, device_id="gate-7")
    enrolled = face_event(subject, "face.enrolled")

    first = await face_events.Append(pb.AppendRequest(events=[attempt, enrolled]))
    again = await face_events.Append(pb.AppendRequest(events=[attempt]))
    await entries_of(dpo, subject, until=lambda es: len(es) >= 2, kind="face.")
    await asyncio.sleep(0.3)  # a duplicate would have been integrated by now
    # (Audit asked keyvault for the subject's reference, which created its key: that event is logged too.)
    entries = await entries_of(dpo, subject, kind="face.")

    assert (first.accepted, again.accepted) == (2, 0)
    assert sorted(e["type"] for e in entries) == ["face.enrolled", "face.match.attempted"]
    match = next(e for e in entries if e["type"] == "face.match.attempted")
    assert match["producer"] == "face-app" and match["payload"] == {"result": "match", "score": 0.93,
                                                                     "deviceId": "gate-7"}


async def test_every_entry_is_provably_in_the_signed_tree(face_events, dpo, backend):
    subject = unique("subj")
    await face_events.Append(pb.AppendRequest(events=[face_event(subject)]))
    await entries_of(dpo, subject)
    answer = await dpo.QueryEvents(pb.QueryEventsRequest(
        filter=pb.EventFilter(subject_id=subject, controller_id=CONTROLLER), page_size=1000))
    entry = answer.entries[0]
    checkpoint = (await dpo.GetCheckpoint(pb.GetCheckpointRequest())).checkpoint
    key = await dpo.GetPublicKey(pb.GetPublicKeyRequest())

    proof = await dpo.GetInclusionProof(pb.GetInclusionProofRequest(leaf_index=entry.leaf_index,
                                                                    tree_size=checkpoint.tree_size))

    assert verify_checkpoint(key.public_key_pem, checkpoint.note, checkpoint.signature) == (
        checkpoint.tree_size, checkpoint.root_hash)
    assert proof.leaf_hash == merkle.leaf_hash(entry.entry_json)
    assert proofs.verify_inclusion(proof.leaf_hash, entry.leaf_index, checkpoint.tree_size, list(proof.hashes),
                                   checkpoint.root_hash)
    assert not proofs.verify_inclusion(merkle.leaf_hash(entry.entry_json + b" "), entry.leaf_index,
                                       checkpoint.tree_size, list(proof.hashes), checkpoint.root_hash)


async def test_a_later_checkpoint_is_consistent_with_an_earlier_one(face_events, dpo, backend):
    await face_events.Append(pb.AppendRequest(events=[face_event(unique("subj"))]))
    earlier = await _checkpoint_after(dpo, 0)
    subject = unique("subj")
    await face_events.Append(pb.AppendRequest(events=[face_event(subject)]))
    later = await _checkpoint_after(dpo, earlier.tree_size)

    proof = await dpo.GetConsistencyProof(pb.GetConsistencyProofRequest(old_size=earlier.tree_size,
                                                                        new_size=later.tree_size))

    assert proofs.verify_consistency(earlier.tree_size, later.tree_size, earlier.root_hash, later.root_hash,
                                     list(proof.hashes))


async def _checkpoint_after(dpo, size: int) -> pb.Checkpoint:
    async with asyncio.timeout(20):
        while True:
            try:
                checkpoint = (await dpo.GetCheckpoint(pb.GetCheckpointRequest())).checkpoint
                if checkpoint.tree_size > size:
                    return checkpoint
            except grpc.aio.AioRpcError as error:
                assert error.code() == grpc.StatusCode.FAILED_PRECONDITION  # nothing signed yet
            await asyncio.sleep(0.1)


async def test_after_shredding_entries_still_verify_but_no_query_finds_the_person(
        admin, gate, face, kv_admin_service, dpo, backend):
    subject, purpose = await consented(admin, gate)
    # The grant, and the key audit has keyvault make for its reference: both in before the shred.
    entries = await entries_of(dpo, subject, until=lambda es: {"consent.granted", "keyvault.key.created"}
                               <= {e["type"] for e in es})
    reference = entries[0]["subjectRef"]

    await kv_admin_service.ShredSubjectKey(kv_admin_pb.ShredSubjectKeyRequest(
        subject_id=subject, request_id=unique("dsr"), reason="erasure", idempotency_key=unique("idem"),
        controller_id=CONTROLLER))

    by_subject = await dpo.QueryEvents(pb.QueryEventsRequest(
        filter=pb.EventFilter(subject_id=subject, controller_id=CONTROLLER)))
    by_reference = await dpo.QueryEvents(pb.QueryEventsRequest(filter=pb.EventFilter(subject_ref=reference)))
    verified = await dpo.VerifyLog(pb.VerifyLogRequest())
    assert list(by_subject.entries) == []
    # The entries are still there, still in the tree: only the link to the person is gone.
    assert len(by_reference.entries) == len(entries)
    assert verified.ok, list(verified.problems)


async def test_queries_page_through_matching_entries_in_order(face_events, dpo, backend):
    subject = unique("subj")
    await face_events.Append(pb.AppendRequest(events=[face_event(subject) for _ in range(7)]))
    await entries_of(dpo, subject, until=lambda es: len(es) == 7, kind="face.")

    pages, token = [], ""
    while True:
        page = await dpo.QueryEvents(pb.QueryEventsRequest(
            filter=pb.EventFilter(subject_id=subject, controller_id=CONTROLLER, type="face.match.attempted"),
            page_size=3, page_token=token))
        pages.append([e.leaf_index for e in page.entries])
        token = page.next_page_token
        if not token:
            break

    flat = [i for page in pages for i in page]
    assert [len(p) for p in pages] == [3, 3, 1] and flat == sorted(flat) and len(set(flat)) == 7


async def test_granting_for_many_subjects_fills_the_producer_sequence_without_gaps(admin, gate, dpo, backend):
    p_subjects = [unique("subj") for _ in range(10)]
    purpose = (await consented(admin, gate))[1]
    for subject in p_subjects:
        await gate.GrantConsent(grant(subject, purpose))

    async with asyncio.timeout(20):
        while True:
            report = {p.producer: p for p in (await dpo.GetCompleteness(pb.GetCompletenessRequest())).producers}
            consent = report.get("consent")
            if consent and consent.complete_up_to == consent.highest_seen and consent.highest_seen >= 10:
                break
            await asyncio.sleep(0.1)
    assert consent.missing == 0
