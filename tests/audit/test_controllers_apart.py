"""One log, many controllers: every entry names its controller, and a DPO of one controller queries,
exports and proves only that controller's entries, while checkpoints stay those of the one tree.
One person id at two controllers (acme-campus, river-bank) is two subjects; until keyvault gives
them two references, their entries even share one, so only the controller keeps them apart here."""

import json
import uuid

import grpc
import pytest
from aiokafka import AIOKafkaProducer
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from consentry.audit.v1 import audit_pb2 as pb
from consentry.events.v1 import envelope_pb2
from services.common.grpc_errors import field_violations
from services.common.topics import KEYVAULT_EVENTS
from tests.audit.test_export import export, verify
from tests.audit.test_log import entries_of, face_event
from tests.keyvault.test_data_keys import refused
from tests.support import unique

pytestmark = pytest.mark.parametrize("backend", ["wrapped"], indirect=True, scope="session")
ACME, RIVER = "acme-campus", "river-bank"


def reason(error: grpc.aio.AioRpcError) -> str:
    for detail in rpc_status.from_call(error).details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info.reason
    return ""


async def one_person_at_both(face_events, bank_events, dpo) -> tuple[str, set[str], set[str]]:
    """A person id with face events at acme-campus (3) and at river-bank (2), all in the signed log."""
    person = unique("person")
    acme = [face_event(person, device_id="acme-gate") for _ in range(3)]
    river = [face_event(person, device_id="river-branch") for _ in range(2)]
    await face_events.Append(pb.AppendRequest(events=acme))
    await bank_events.Append(pb.AppendRequest(events=river))
    await entries_of(dpo, person, until=lambda es: len(es) == 3, kind="face.", controller=ACME)
    await entries_of(dpo, person, until=lambda es: len(es) == 2, kind="face.", controller=RIVER)
    return person, {e.event_id for e in acme}, {e.event_id for e in river}


async def test_a_controllers_dpo_reads_its_own_entries_of_a_person_never_anothers(
        face_events, bank_events, dpo, acme_dpo, river_dpo, backend):
    person, acme, river = await one_person_at_both(face_events, bank_events, dpo)

    at_acme = await entries_of(acme_dpo, person, until=lambda es: len(es) >= 3, kind="face.", controller="")
    at_river = await entries_of(river_dpo, person, until=lambda es: len(es) >= 2, kind="face.", controller="")
    everything_at_acme = await entries_of(acme_dpo, person, controller="")

    assert {e["eventId"] for e in at_acme} == acme and {e["eventId"] for e in at_river} == river
    assert {e["controllerId"] for e in everything_at_acme} == {ACME}
    assert not {e["eventId"] for e in everything_at_acme} & river
    assert all(e["controllerId"] == RIVER for e in await entries_of(river_dpo, person, controller=""))


async def test_a_subject_reference_reaches_no_entry_of_another_controller(
        face_events, bank_events, dpo, acme_dpo, river_dpo, backend):
    person, _, river = await one_person_at_both(face_events, bank_events, dpo)
    [ref] = {e["subjectRef"] for e in await entries_of(dpo, person, kind="face.", controller=RIVER)}

    async def by_reference(client) -> set[str]:
        answer = await client.QueryEvents(pb.QueryEventsRequest(filter=pb.EventFilter(subject_ref=ref),
                                                                page_size=1000))
        return {json.loads(e.entry_json)["eventId"] for e in answer.entries}
    operator, at_river, at_acme = [await by_reference(c) for c in (dpo, river_dpo, acme_dpo)]

    assert river <= operator and river <= at_river
    assert not at_acme & river


async def test_naming_another_controller_is_not_found_like_an_unknown_one(acme_dpo, face_events, backend):
    for call, request in (
            (acme_dpo.QueryEvents, lambda c: pb.QueryEventsRequest(filter=pb.EventFilter(controller_id=c))),
            (acme_dpo.QueryEvents, lambda c: pb.QueryEventsRequest(filter=pb.EventFilter(subject_id="p-1",
                                                                                           controller_id=c))),
            (face_events.Append, lambda c: pb.AppendRequest(events=[face_event("p-1")], controller_id=c))):
        other, unknown = [await refused(call, request(c)) for c in (RIVER, "no-such-controller")]

        assert other.code() == unknown.code() == grpc.StatusCode.NOT_FOUND
        assert reason(other) == reason(unknown) == "CONTROLLER_NOT_FOUND"
        assert other.details().replace(RIVER, "X") == unknown.details().replace("no-such-controller", "X")


async def test_an_operator_sees_every_controller_when_naming_none_and_one_when_naming_it(
        face_events, bank_events, dpo, backend):
    person, acme, river = await one_person_at_both(face_events, bank_events, dpo)
    ref = (await entries_of(dpo, person, kind="face.", controller=RIVER))[0]["subjectRef"]
    acme_ref = (await entries_of(dpo, person, kind="face.", controller=ACME))[0]["subjectRef"]

    both = set()
    for r in {ref, acme_ref}:
        answer = await dpo.QueryEvents(pb.QueryEventsRequest(filter=pb.EventFilter(subject_ref=r), page_size=1000))
        both |= {json.loads(e.entry_json)["eventId"] for e in answer.entries}
    only_river = {e["eventId"] for e in await entries_of(dpo, person, kind="face.", controller=RIVER)}
    unnamed = await refused(dpo.QueryEvents, pb.QueryEventsRequest(filter=pb.EventFilter(subject_id=person)))

    assert acme | river <= both and only_river == river
    assert unnamed.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert ("filter.controller_id", "filter.controller_for_subject") in field_violations(unnamed)


async def test_a_page_token_stays_with_the_controller_it_was_issued_in(face_events, bank_events, dpo, backend):
    person, _, _ = await one_person_at_both(face_events, bank_events, dpo)
    first = await dpo.QueryEvents(pb.QueryEventsRequest(filter=pb.EventFilter(subject_id=person, controller_id=ACME,
                                                                              type="face.match.attempted"),
                                                        page_size=1))

    moved = await refused(dpo.QueryEvents, pb.QueryEventsRequest(
        filter=pb.EventFilter(subject_id=person, controller_id=RIVER, type="face.match.attempted"), page_size=1,
        page_token=first.next_page_token))

    assert first.next_page_token and len(first.entries) == 1
    assert moved.code() == grpc.StatusCode.INVALID_ARGUMENT and field_violations(moved)[0][0] == "page_token"


async def test_a_controllers_export_verifies_offline_and_holds_none_of_another_controllers_entries(
        face_events, bank_events, dpo, acme_dpo, tmp_path, backend):
    person, acme, river = await one_person_at_both(face_events, bank_events, dpo)
    await entries_of(acme_dpo, person, until=lambda es: len(es) >= 3, kind="face.", controller="")
    key = (await acme_dpo.GetPublicKey(pb.GetPublicKeyRequest())).public_key_pem

    lines = await export(acme_dpo, tmp_path / "acme.jsonl", filter=pb.EventFilter(subject_id=person))
    code, verdict = verify(tmp_path, tmp_path / "acme.jsonl", key, controller=ACME)
    wrong_code, wrong = verify(tmp_path, tmp_path / "acme.jsonl", key, controller=RIVER)
    # The operator's export of both, as if passed off as acme-campus's: the river-bank entries show.
    by_ref = (await entries_of(dpo, person, kind="face.", controller=RIVER))[0]["subjectRef"]
    await export(dpo, tmp_path / "both.jsonl", filter=pb.EventFilter(subject_ref=by_ref))
    mixed_code, mixed = verify(tmp_path, tmp_path / "both.jsonl", key, controller=ACME)

    exported = [json.loads(json.loads(line)["entryJson"]) for line in lines[1:]]
    assert acme <= {e["eventId"] for e in exported} and not {e["eventId"] for e in exported} & river
    assert {e["controllerId"] for e in exported} == {ACME}
    assert code == 0 and verdict["ok"] and verdict["entriesVerified"] == len(exported) >= 3, verdict
    assert wrong_code == 1 and len(wrong["problems"]) == len(exported)
    assert mixed_code == 1 and sum("river-bank" in p for p in mixed["problems"]) >= len(river)


async def test_a_proof_of_another_controllers_leaf_is_not_found_like_a_leaf_beyond_the_tree(
        face_events, bank_events, dpo, acme_dpo, backend):
    person, _, _ = await one_person_at_both(face_events, bank_events, dpo)
    answer = await dpo.QueryEvents(pb.QueryEventsRequest(filter=pb.EventFilter(subject_id=person, controller_id=RIVER,
                                                                               type="face.match.attempted")))
    river_leaf = answer.entries[0].leaf_index
    answer = await acme_dpo.QueryEvents(pb.QueryEventsRequest(filter=pb.EventFilter(subject_id=person,
                                                                                    type="face.match.attempted")))
    acme_leaf = answer.entries[0].leaf_index
    size = (await acme_dpo.GetCheckpoint(pb.GetCheckpointRequest())).checkpoint.tree_size

    own = await acme_dpo.GetInclusionProof(pb.GetInclusionProofRequest(leaf_index=acme_leaf))
    theirs = await refused(acme_dpo.GetInclusionProof, pb.GetInclusionProofRequest(leaf_index=river_leaf))
    beyond = await refused(acme_dpo.GetInclusionProof, pb.GetInclusionProofRequest(leaf_index=size + 10**6))
    operators = await dpo.GetInclusionProof(pb.GetInclusionProofRequest(leaf_index=river_leaf))

    assert own.leaf_index == acme_leaf and own.hashes
    assert theirs.code() == beyond.code() == grpc.StatusCode.NOT_FOUND
    assert reason(theirs) == reason(beyond) == "LEAF_NOT_FOUND"
    assert theirs.details() == f"leaf {river_leaf} not found" and beyond.details() == f"leaf {size + 10**6} not found"
    assert operators.leaf_index == river_leaf and operators.hashes


async def test_a_face_systems_events_are_its_controllers_and_an_operator_must_name_one(
        face_events, bank_events, audit, dpo, backend):
    person = unique("person")
    platform = audit("platform-app")
    acme_event, river_event, named = face_event(person), face_event(person), face_event(person)

    await face_events.Append(pb.AppendRequest(events=[acme_event]))
    await bank_events.Append(pb.AppendRequest(events=[river_event]))
    unnamed = await refused(platform.Append, pb.AppendRequest(events=[face_event(person)]))
    await platform.Append(pb.AppendRequest(events=[named], controller_id=RIVER))

    at_acme = await entries_of(dpo, person, kind="face.", controller=ACME)
    at_river = await entries_of(dpo, person, until=lambda es: len(es) == 2, kind="face.", controller=RIVER)
    assert [(e["eventId"], e["controllerId"], e["producer"]) for e in at_acme] == [
        (acme_event.event_id, ACME, "face-app")]
    assert {(e["eventId"], e["controllerId"]) for e in at_river} == {(river_event.event_id, RIVER),
                                                                     (named.event_id, RIVER)}
    assert unnamed.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "controller_id" in [f for f, _ in field_violations(unnamed)]


async def test_completeness_shows_a_controllers_dpo_no_face_system_of_another(
        bank_events, dpo, acme_dpo, river_dpo, backend):
    person = unique("person")
    await bank_events.Append(pb.AppendRequest(events=[face_event(person, sequence=1)]))
    await entries_of(dpo, person, kind="face.", controller=RIVER)

    def producers(report) -> set[str]:
        return {p.producer for p in report.producers}
    operator, at_river, at_acme = [producers(await c.GetCompleteness(pb.GetCompletenessRequest()))
                                   for c in (dpo, river_dpo, acme_dpo)]

    assert "bank-app" in operator and "bank-app" in at_river
    assert "bank-app" not in at_acme and at_acme <= operator


async def test_a_producers_event_is_the_controller_its_envelope_names(kafka, dpo, acme_dpo, river_dpo, backend):
    """Over Kafka: the envelope's controller_id (in the clear), else the default controller's for an
    event about a subject (one published before controllers, or by a producer not yet naming one)."""
    person = unique("person")

    def envelope(controller: str) -> envelope_pb2.EventEnvelope:
        e = envelope_pb2.EventEnvelope(event_id=str(uuid.uuid4()), producer="relay-test", type="keyvault.key.created",
                                       subject_id=person, controller_id=controller)
        e.occurred_at.GetCurrentTime()
        return e
    river, unnamed = envelope(RIVER), envelope("")
    producer = AIOKafkaProducer(**kafka.client_options(), acks="all")
    await producer.start()
    try:
        for e in (river, unnamed):
            await producer.send_and_wait(KEYVAULT_EVENTS, e.SerializeToString(), key=person.encode())
    finally:
        await producer.stop()

    # Keyvault makes each a key for its reference, and logs that too: only the test's own events count.
    def sent(entries: list[dict]) -> list[dict]:
        return [e for e in entries if e["producer"] == "relay-test"]
    at_river = sent(await entries_of(river_dpo, person, controller="", kind="keyvault.", until=lambda es: sent(es)))
    at_acme = sent(await entries_of(acme_dpo, person, controller="", kind="keyvault.", until=lambda es: sent(es)))

    assert [(e["eventId"], e["controllerId"]) for e in at_river] == [(river.event_id, RIVER)]
    assert [(e["eventId"], e["controllerId"]) for e in at_acme] == [(unnamed.event_id, ACME)]  # the default
    assert all(len(e["subjectRef"]) == 64 for e in at_river + at_acme)
