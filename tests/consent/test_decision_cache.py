"""The decision cache never keeps what a concurrent change may have made stale."""

from datetime import UTC, datetime, timedelta

from consentry.consent.v1 import consent_pb2 as pb
from services.consent.api.mapping import CheckResponses
from services.consent.domain.model import INACTIVITY_LIMIT, CheckResult, ConsentSnapshot, ConsentState, DenyReason
from services.consent.service.decision_cache import DecisionCache
from services.consent.service.gate import ConsentGate

GIVEN = ConsentSnapshot(True, False, "c-1", ConsentState.GIVEN, 1)
KEY = ("alice", "gate", "campus")  # (subject, purpose, the controller the check was asked in)
PAIR = KEY[:2]  # what a change invalidates
NOW = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)
ENDS = NOW + timedelta(days=30)


def held(cache: DecisionCache, key: tuple[str, str, str]) -> bool:
    """Whether the cache answers `key` (GIVEN, the only snapshot these tests keep, is an ALLOW)."""
    answer = cache.answer(key, NOW)
    assert answer is None or answer.allowed
    return answer is not None


def enabled_cache(**kwargs) -> DecisionCache:
    cache = DecisionCache(**kwargs)
    cache.enable()
    return cache


def test_a_read_that_overlapped_an_invalidation_is_not_kept():
    cache = enabled_cache()
    epoch = cache.epoch
    cache.invalidate(("bob", "gate"))  # a change commits while the read is in flight

    cache.store(epoch, [(KEY, GIVEN)])

    assert not held(cache, KEY)


def test_invalidation_drops_the_entry():
    cache = enabled_cache()
    cache.store(cache.epoch, [(KEY, GIVEN)])
    assert held(cache, KEY)

    cache.invalidate(PAIR)

    assert not held(cache, KEY)


def test_without_notifications_nothing_is_cached_or_served():
    cache = enabled_cache()
    cache.store(cache.epoch, [(KEY, GIVEN)])

    cache.disable()
    cache.store(cache.epoch, [(KEY, GIVEN)])

    assert not held(cache, KEY) and len(cache) == 0


def test_entries_expire_after_their_ttl():
    cache = enabled_cache(ttl_s=0.0)
    cache.store(cache.epoch, [(KEY, GIVEN)])
    assert not held(cache, KEY)


def test_a_full_cache_starts_over_instead_of_growing():
    cache = enabled_cache(max_entries=2)
    cache.store(cache.epoch, [(("a", "p", "campus"), GIVEN), (("b", "p", "campus"), GIVEN)])
    cache.store(cache.epoch, [(("c", "p", "campus"), GIVEN)])
    assert len(cache) == 1 and held(cache, ("c", "p", "campus"))


def test_an_answer_read_in_one_controller_is_no_answer_in_another():
    cache = enabled_cache()
    cache.store(cache.epoch, [(KEY, GIVEN)])

    assert held(cache, KEY)
    assert not held(cache, ("alice", "gate", "bank"))  # read afresh: there the purpose is not its own

    cache.store(cache.epoch, [(("alice", "gate", "bank"), ConsentSnapshot(False, False))])
    cache.invalidate(PAIR)  # a change of the pair drops it whichever controller asked
    assert not held(cache, ("alice", "gate", "bank")) and len(cache) == 0


def test_an_answer_is_kept_while_it_holds_and_decided_again_when_the_consent_runs_out():
    cache = enabled_cache()
    # used a moment ago, so its retention (not three years of inactivity) ends it
    given = ConsentSnapshot(True, False, "c-1", ConsentState.GIVEN, 1, expires_at=ENDS, last_interaction_at=NOW)
    cache.store(cache.epoch, [(KEY, given)])

    first, later = cache.answer(KEY, NOW), cache.answer(KEY, ENDS - timedelta(microseconds=1))
    ran_out = cache.answer(KEY, ENDS)

    assert first.allowed and first.expires_at == ENDS and later is first  # one object while it holds
    assert not ran_out.allowed and ran_out.reason == DenyReason.EXPIRED
    assert cache.answer(KEY, ENDS + timedelta(days=1)) is ran_out
    assert cache.answer(("alice", "gate", "bank"), NOW) is None  # asked in another controller: not held


def test_an_idle_consent_runs_out_in_the_kept_answer_too():
    cache = enabled_cache()
    idle_since = NOW - INACTIVITY_LIMIT + timedelta(hours=1)
    cache.store(cache.epoch, [(KEY, ConsentSnapshot(True, False, "c-1", ConsentState.GIVEN, 1,
                                                    last_interaction_at=idle_since))])

    assert cache.answer(KEY, NOW).allowed
    assert cache.answer(KEY, NOW + timedelta(hours=1)).reason == DenyReason.EXPIRED


def test_a_changed_pair_gets_a_new_answer():
    cache = enabled_cache()
    cache.store(cache.epoch, [(KEY, GIVEN)])
    allowed = cache.answer(KEY, NOW)

    cache.invalidate(PAIR)
    assert cache.answer(KEY, NOW) is None
    cache.store(cache.epoch, [(KEY, ConsentSnapshot(True, False, "c-1", ConsentState.WITHDRAWN, 1))])

    assert allowed.allowed and cache.answer(KEY, NOW).reason == DenyReason.WITHDRAWN


def test_a_response_is_made_once_per_answer_and_says_what_the_answer_says():
    responses = CheckResponses(max_kept=2)
    allow = CheckResult(True, consent_id="c-1", notice_version=3, expires_at=ENDS)
    same_values = CheckResult(True, consent_id="c-1", notice_version=3, expires_at=ENDS)
    deny = CheckResult(False, DenyReason.WITHDRAWN, "c-2", 1, lapses=1)

    made = responses(allow)
    assert responses(allow) is made
    assert made.decision == pb.DECISION_ALLOW and made.consent_id == "c-1" and made.notice_version == 3
    assert made.expires_at.ToDatetime(UTC) == ENDS
    other = responses(same_values)  # another answer, which happens to say the same: its own response
    assert other is not made and other == made
    denied = responses(deny)  # a third answer: the full memory starts over
    assert denied.decision == pb.DECISION_DENY and denied.reason == pb.DENY_REASON_WITHDRAWN and denied.lapses == 1
    assert responses(allow) is not made and responses(allow) == made


async def test_the_gate_answers_from_the_cache_by_its_own_clock():
    cache = enabled_cache()
    cache.store(cache.epoch, [(KEY, ConsentSnapshot(True, False, "c-1", ConsentState.GIVEN, 1, expires_at=ENDS,
                                                    last_interaction_at=NOW))])
    clock = [NOW]
    # No reader: every answer below must come from the cache.
    gate = ConsentGate(None, cache, None, clock=lambda: clock[0])

    before, many = await gate.check(*KEY), await gate.check_many([KEY, KEY])
    clock[0] = ENDS
    after, many_after = await gate.check(*KEY), await gate.check_many([KEY])

    assert before.allowed and many == [before, before]
    assert not after.allowed and after.reason == DenyReason.EXPIRED and many_after == [after]
