"""The gate's decision as a pure function: no state but a current, unexpired GIVEN consent allows."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from services.consent.domain.model import (
    INACTIVITY_LIMIT, ConsentSnapshot, ConsentState, DenyReason, decide,
)

NOW = datetime(2026, 11, 22, tzinfo=UTC)
moments = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2032, 1, 1), timezones=st.just(UTC))
snapshots = st.builds(
    ConsentSnapshot,
    purpose_exists=st.booleans(), subject_erased=st.booleans(),
    consent_id=st.one_of(st.none(), st.just("c-1")), state=st.one_of(st.none(), st.sampled_from(ConsentState)),
    notice_version=st.integers(0, 5), expires_at=st.one_of(st.none(), moments),
    last_interaction_at=st.one_of(st.none(), moments),
)


@given(snapshots)
def test_only_a_current_given_consent_allows(snapshot):
    result = decide(snapshot, NOW)
    current = (snapshot.purpose_exists and not snapshot.subject_erased and snapshot.consent_id is not None
               and snapshot.state is ConsentState.GIVEN
               and (snapshot.expires_at is None or snapshot.expires_at > NOW)
               and (snapshot.last_interaction_at is None or snapshot.last_interaction_at + INACTIVITY_LIMIT > NOW))
    assert result.allowed == current
    assert (result.reason is None) == result.allowed


def test_erasure_outranks_every_other_reason():
    snapshot = ConsentSnapshot(purpose_exists=False, subject_erased=True)
    assert decide(snapshot, NOW).reason is DenyReason.SUBJECT_ERASED


def test_inactivity_expires_even_within_retention():
    snapshot = ConsentSnapshot(True, False, "c-1", ConsentState.GIVEN, 1, NOW + timedelta(days=3650),
                               NOW - INACTIVITY_LIMIT)
    assert decide(snapshot, NOW).reason is DenyReason.EXPIRED
