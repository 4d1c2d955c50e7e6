"""Bad requests get INVALID_ARGUMENT naming each bad field, and append nothing; reads beyond the
signed tree get OUT_OF_RANGE; callers outside their grant are refused."""

import asyncio
import json
import uuid

import asyncpg
import grpc
import pytest
from google.protobuf import timestamp_pb2

from consentry.audit.v1 import audit_pb2 as pb
from services.audit.service.reader import MAX_PAGE
from services.common.grpc_errors import field_violations
from tests.audit.test_log import CONTROLLER, entries_of, face_event
from tests.keyvault.test_data_keys import refused
from tests.support import unique

pytestmark = pytest.mark.parametrize("backend", ["wrapped"], indirect=True, scope="session")


def _ts(seconds: int) -> timestamp_pb2.Timestamp:
    return timestamp_pb2.Timestamp(seconds=seconds)


QUERIES = {
    "filter.subject_ref": pb.EventFilter(subject_ref="not-a-reference"),
    "filter.type": pb.EventFilter(type="Consent Granted"),
    "filter.producer": pb.EventFilter(producer="no spaces allowed"),
    # An operator reads a subject id in one controller only: the same person at two is two subjects.
    "filter.controller_id": pb.EventFilter(subject_id="alice"),
    "filter.occurred_until": pb.EventFilter(occurred_from=_ts(2_000_000), occurred_until=_ts(1_000_000)),
}


@pytest.mark.parametrize("field", QUERIES)
async def test_a_bad_filter_is_refused_naming_the_field(dpo, backend, field):
    error = await refused(dpo.QueryEvents, pb.QueryEventsRequest(filter=QUERIES[field]))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in [f for f, _ in field_violations(error)]


async def test_paging_arguments_are_checked(dpo, backend):
    forged = await refused(dpo.QueryEvents, pb.QueryEventsRequest(page_token="bm90IGEgdG9rZW4="))
    both = await refused(dpo.QueryEvents, pb.QueryEventsRequest(
        filter=pb.EventFilter(subject_id="alice", subject_ref="a" * 64, controller_id=CONTROLLER)))

    assert field_violations(forged) == [("page_token", "page_token.valid")]
    assert [f for f, _ in field_violations(both)] == ["filter.subject_ref"]


BAD_EVENTS = {
    "event_id": dict(event_id="42"),
    "type": dict(type="consent.granted"),  # face systems cannot speak for Consentry's own services
    "subject_id": dict(subject_id="alice smith"),
    "score": dict(result="match", score=1.5),
    "occurred_at": dict(occurred_at=None),
}


@pytest.mark.parametrize("field", BAD_EVENTS)
async def test_a_bad_face_event_appends_nothing_not_even_its_good_neighbours(face_events, dpo, backend, field):
    subject = unique("subj")
    good = face_event(subject)
    bad = face_event(subject)
    for name, value in BAD_EVENTS[field].items():
        if value is None:
            bad.ClearField(name)
        else:
            setattr(bad, name, value)

    error = await refused(face_events.Append, pb.AppendRequest(events=[good, bad]))
    await face_events.Append(pb.AppendRequest(events=[face_event(subject, "face.enrolled")]))  # a marker
    entries = await entries_of(dpo, subject, until=lambda es: any(e["type"] == "face.enrolled" for e in es))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"events[1].{field}" in [f for f, _ in field_violations(error)]
    assert good.event_id not in {e["eventId"] for e in entries}


async def test_proofs_beyond_the_signed_tree_are_out_of_range(face_events, dpo, backend):
    await face_events.Append(pb.AppendRequest(events=[face_event(unique("subj"))]))
    await asyncio.sleep(0.3)
    size = (await dpo.GetCheckpoint(pb.GetCheckpointRequest())).checkpoint.tree_size

    leaf = await refused(dpo.GetInclusionProof, pb.GetInclusionProofRequest(leaf_index=size, tree_size=size))
    tree = await refused(dpo.GetInclusionProof, pb.GetInclusionProofRequest(leaf_index=0, tree_size=size + 10**6))
    empty = await refused(dpo.GetConsistencyProof, pb.GetConsistencyProofRequest(old_size=0, new_size=size))
    shrinking = await refused(dpo.GetConsistencyProof, pb.GetConsistencyProofRequest(old_size=size, new_size=1))

    assert leaf.code() == tree.code() == grpc.StatusCode.OUT_OF_RANGE
    assert empty.code() == shrinking.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_callers_are_held_to_their_grant(face_events, dpo, backend):
    read = await refused(face_events.QueryEvents, pb.QueryEventsRequest())
    write = await refused(dpo.Append, pb.AppendRequest(events=[face_event(unique("subj"))]))

    assert read.code() == write.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_an_event_id_is_recorded_once_even_from_another_face_system(audit, face_events, dpo, backend):
    subject, event = unique("subj"), face_event(unique("subj"))
    event.subject_id = subject
    doors = audit("door-system")

    await face_events.Append(pb.AppendRequest(events=[event]))
    again = await doors.Append(pb.AppendRequest(events=[pb.FaceSystemEvent(
        event_id=event.event_id, type="face.enrolled", subject_id=subject, occurred_at=event.occurred_at)]))
    entries = await entries_of(dpo, subject, kind="face.")

    assert again.accepted == 0
    assert [(uuid.UUID(e["eventId"]), e["producer"]) for e in entries] == [(uuid.UUID(event.event_id), "face-app")]


async def test_proofs_are_given_only_at_the_size_of_a_signed_checkpoint(face_events, dpo, postgres, audit_database,
                                                                        backend):
    subject = unique("subj")
    await face_events.Append(pb.AppendRequest(events=[face_event(subject) for _ in range(3)]))
    await entries_of(dpo, subject, until=lambda es: len(es) == 3, kind="face.")
    conn = await asyncpg.connect(postgres.dsn(audit_database))
    try:
        signed = {r["tree_size"] for r in await conn.fetch("SELECT tree_size FROM checkpoints")}
    finally:
        await conn.close()
    latest = max(signed)
    unsigned = [n for n in range(1, latest) if n not in signed]
    assert unsigned, "every size was signed: the three events were not integrated together"

    inclusion = await refused(dpo.GetInclusionProof, pb.GetInclusionProofRequest(leaf_index=0, tree_size=unsigned[-1]))
    consistency = await refused(dpo.GetConsistencyProof, pb.GetConsistencyProofRequest(old_size=unsigned[-1],
                                                                                       new_size=latest))
    at_signed = await dpo.GetInclusionProof(pb.GetInclusionProofRequest(leaf_index=0, tree_size=latest))

    assert inclusion.code() == consistency.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "not the size of a signed checkpoint" in inclusion.details()
    assert at_signed.tree_size == latest and at_signed.hashes


async def test_a_page_size_above_the_maximum_is_the_maximum_not_an_error(face_events, dpo, backend):
    subject = unique("subj")
    await face_events.Append(pb.AppendRequest(events=[face_event(subject) for _ in range(3)]))
    # The subject's key, made for its reference, logs an entry of its own at a time of its own.
    logged = await entries_of(dpo, subject, until=lambda es: len(es) == 3, kind="face.")

    answer = await dpo.QueryEvents(pb.QueryEventsRequest(
        filter=pb.EventFilter(subject_id=subject, controller_id=CONTROLLER), page_size=MAX_PAGE * 10))

    answered = [entry for entry in map(json.loads, (e.entry_json for e in answer.entries))
                if entry["type"].startswith("face.")]
    assert answered == logged and not answer.next_page_token


async def test_a_page_token_goes_on_only_with_the_query_it_came_from(face_events, dpo, backend):
    subject = unique("subj")
    await face_events.Append(pb.AppendRequest(events=[face_event(subject) for _ in range(3)]))
    await entries_of(dpo, subject, until=lambda es: len(es) >= 3)
    first = await dpo.QueryEvents(pb.QueryEventsRequest(
        filter=pb.EventFilter(subject_id=subject, controller_id=CONTROLLER), page_size=2))

    elsewhere = await refused(dpo.QueryEvents, pb.QueryEventsRequest(
        filter=pb.EventFilter(type="face.match.attempted"), page_size=2, page_token=first.next_page_token))

    assert first.next_page_token
    assert [f for f, _ in field_violations(elsewhere)] == ["page_token"]


@pytest.mark.parametrize("sequence", [2**63, 10**15, 2**53])
async def test_a_sequence_far_beyond_what_the_log_holds_is_refused(face_events, dpo, backend, sequence):
    subject = unique("subj")
    event = face_event(subject)
    event.sequence = sequence

    error = await refused(face_events.Append, pb.AppendRequest(events=[event]))
    completeness = await dpo.GetCompleteness(pb.GetCompletenessRequest())

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in field_violations(error)] == ["events[0].sequence"]
    assert all(p.highest_seen < 10**6 for p in completeness.producers)  # no gap opened that nothing can fill


@pytest.mark.parametrize("seconds", [2**40, -10**12, 4102444800])  # out of range, before 1 AD, in 2100
async def test_a_face_event_at_no_real_time_is_refused(face_events, backend, seconds):
    event = face_event(unique("subj"))
    event.occurred_at.seconds = seconds

    error = await refused(face_events.Append, pb.AppendRequest(events=[event]))

    assert [f for f, _ in field_violations(error)] == ["events[0].occurred_at"]
