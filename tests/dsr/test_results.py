"""A processor's result as the dsr service takes it: nothing in it can stop settlement, which runs a
batch of results in one transaction (a NUL byte PostgreSQL refuses, or access data an export cannot
hold, would otherwise fail that batch on every delivery)."""

from consentry.dsr.v1.tasks_pb2 import DsrTaskResult
from services.dsr.domain.model import TaskOutcome
from services.dsr.events.consumer import MAX_NOTE, outcome_of


def test_a_good_result_is_taken_as_it_is():
    done = DsrTaskResult(task_id="t-1", request_id="r-1", processor="door-a", ok=True, summary="deleted 2",
                         data_json=b'{"templates": []}')
    failed = DsrTaskResult(task_id="t-2", request_id="r-1", processor="door-a", ok=False, reason="disk full")

    assert outcome_of(done) == TaskOutcome("t-1", True, "deleted 2", b'{"templates": []}')
    assert outcome_of(failed) == TaskOutcome("t-2", False, "disk full")


def test_text_postgresql_cannot_store_is_cleaned_and_bounded():
    result = DsrTaskResult(task_id="t-1", request_id="r-1", ok=False, reason="bad\x00byte" + "x" * 5000)

    outcome = outcome_of(result)

    assert outcome.note.startswith("badbyte") and "\x00" not in outcome.note and len(outcome.note) == MAX_NOTE


def test_data_that_is_not_a_json_object_fails_the_task_instead_of_the_export():
    for data in (b"not json", b"[1, 2]", b"\xff\xfe"):
        outcome = outcome_of(DsrTaskResult(task_id="t-1", request_id="r-1", ok=True, data_json=data))
        assert outcome == TaskOutcome("t-1", False, "the data sent is not a JSON object")


def test_a_result_without_a_usable_task_id_is_dropped():
    assert outcome_of(DsrTaskResult(request_id="r-1", ok=True)) is None
    assert outcome_of(DsrTaskResult(task_id="t\x00", request_id="r-1", ok=True)) is None
