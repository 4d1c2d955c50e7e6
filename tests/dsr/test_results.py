"""A processor's result as the dsr service takes it: it counts only as an answer of the processor
whose topic it came on, and nothing in it can stop settlement, which runs a batch of results in one
transaction (a NUL byte PostgreSQL refuses, or access data an export cannot hold, would otherwise
fail that batch on every delivery). Access data comes sealed under its task's key."""

import os

from consentry.dsr.v1.tasks_pb2 import DsrTaskResult
from consentry_client.sealing import seal_result
from services.dsr.domain.model import TaskOutcome
from services.dsr.events.consumer import MAX_NOTE, outcome_of
from services.dsr.service.settlement import _open

KEY = os.urandom(32)


def test_a_good_result_is_taken_as_it_is():
    sealed = seal_result(KEY, "t-1", b'{"templates": []}')
    done = DsrTaskResult(task_id="t-1", request_id="r-1", processor="door-a", ok=True, summary="exported",
                         sealed_data=sealed)
    failed = DsrTaskResult(task_id="t-2", request_id="r-1", processor="door-a", ok=False, reason="disk full")

    assert outcome_of(done, "door-a") == TaskOutcome("t-1", "door-a", True, "exported", sealed, sealed=True)
    assert outcome_of(failed, "door-a") == TaskOutcome("t-2", "door-a", False, "disk full")


def test_a_result_counts_for_the_processor_whose_topic_it_came_on_only():
    claims_other = DsrTaskResult(task_id="t-1", request_id="r-1", processor="door-b", ok=True)
    says_nothing = DsrTaskResult(task_id="t-1", request_id="r-1", ok=True)

    assert outcome_of(claims_other, "door-a") is None
    assert outcome_of(says_nothing, "door-a").processor == "door-a"


def test_text_postgresql_cannot_store_is_cleaned_and_bounded():
    result = DsrTaskResult(task_id="t-1", request_id="r-1", ok=False, reason="bad\x00byte" + "x" * 5000)

    outcome = outcome_of(result, "door-a")

    assert outcome.note.startswith("badbyte") and "\x00" not in outcome.note and len(outcome.note) == MAX_NOTE


def test_access_data_opens_only_with_its_tasks_key_and_only_as_a_json_object():
    def outcome(data: bytes, key: bytes = KEY, task_id: str = "t-1") -> TaskOutcome:
        return outcome_of(DsrTaskResult(task_id="t-1", request_id="r-1", ok=True,
                                        sealed_data=seal_result(key, task_id, data)), "door-a")

    assert _open(KEY, outcome(b'{"templates": []}')) == b'{"templates": []}'
    for data in (b"not json", b"[1, 2]", b"\xff\xfe"):
        assert _open(KEY, outcome(data)) is None
    assert _open(KEY, outcome(b"{}", key=os.urandom(32))) is None  # another key
    assert _open(KEY, outcome(b"{}", task_id="t-2")) is None  # sealed for another task
    assert _open(None, outcome(b"{}")) is None  # a task with no key (not an access task)


def test_a_result_without_a_usable_task_id_is_dropped():
    assert outcome_of(DsrTaskResult(request_id="r-1", ok=True), "door-a") is None
    assert outcome_of(DsrTaskResult(task_id="t\x00", request_id="r-1", ok=True), "door-a") is None
