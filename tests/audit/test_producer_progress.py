"""A producer's progress as loaded from the log: sequences already logged above its complete point
count as seen, so what is missing is never negative (GetCompleteness reports it as unsigned)."""

from services.audit.domain.completeness import ProducerProgress


def test_sequences_in_the_log_beyond_the_stored_highest_count_as_seen():
    progress = ProducerProgress("door-a", complete_up_to=0, highest_seen=1, ahead={2, 3})

    assert (progress.highest_seen, progress.missing, progress.has_gap) == (3, 1, True)  # sequence 1 is missing


def test_progress_with_nothing_ahead_is_as_stored():
    progress = ProducerProgress("door-a", complete_up_to=4, highest_seen=6)

    assert (progress.highest_seen, progress.missing) == (6, 2)
