"""A processor's result as the dsr service takes it: it counts only as an answer of the processor
whose topic it came on, and nothing in it can stop settlement, which runs a batch of results in one
transaction (a NUL byte PostgreSQL refuses, or access data an export cannot hold, would otherwise
fail that batch on every delivery)."""

from consentry.dsr.v1.tasks_pb2 import DsrTaskResult
from services.dsr.domain.model import TaskOutcome
from services.dsr.events.consumer import MAX_NOTE, outcome_of


def test_a_good_result_is_taken_as_it_is():
    done = DsrTaskResult(task_id="t-1", request_id="r-1", processor="door-a", ok=True, summary="deleted 2",
                         data_json=b'{"templates": []}')
    failed = DsrTaskResult(task_id="t-2", request_id="r-1", processor="door-a", ok=False, reason="disk full")

    assert outcome_of(done, "door-a") == TaskOutcome("t-1", "door-a", True, "deleted 2", b'{"templates": []}')
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


def test_data_that_is_not_a_json_object_fails_the_task_instead_of_the_export():
    for data in (b"not json", b"[1, 2]", b"\xff\xfe"):
        outcome = outcome_of(DsrTaskResult(task_id="t-1", request_id="r-1", ok=True, data_json=data), "door-a")
        assert outcome == TaskOutcome("t-1", "door-a", False, "the data sent is not a JSON object")


def test_a_result_without_a_usable_task_id_is_dropped():
    assert outcome_of(DsrTaskResult(request_id="r-1", ok=True), "door-a") is None
    assert outcome_of(DsrTaskResult(task_id="t\x00", request_id="r-1", ok=True), "door-a") is None
