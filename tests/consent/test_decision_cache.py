"""The decision cache never keeps what a concurrent change may have made stale."""

from services.consent.domain.model import ConsentSnapshot, ConsentState
from services.consent.service.decision_cache import DecisionCache

GIVEN = ConsentSnapshot(True, False, "c-1", ConsentState.GIVEN, 1)
KEY = ("alice", "gate", "campus")  # (subject, purpose, the controller the check was asked in)
PAIR = KEY[:2]  # what a change invalidates


def enabled_cache(**kwargs) -> DecisionCache:
    cache = DecisionCache(**kwargs)
    cache.enable()
    return cache


def test_a_read_that_overlapped_an_invalidation_is_not_kept():
    cache = enabled_cache()
    epoch = cache.epoch
    cache.invalidate(("bob", "gate"))  # a change commits while the read is in flight

    cache.store(epoch, [(KEY, GIVEN)])

    assert cache.get(KEY) is None


def test_invalidation_drops_the_entry():
    cache = enabled_cache()
    cache.store(cache.epoch, [(KEY, GIVEN)])
    assert cache.get(KEY) == GIVEN

    cache.invalidate(PAIR)

    assert cache.get(KEY) is None


def test_without_notifications_nothing_is_cached_or_served():
    cache = enabled_cache()
    cache.store(cache.epoch, [(KEY, GIVEN)])

    cache.disable()
    cache.store(cache.epoch, [(KEY, GIVEN)])

    assert cache.get(KEY) is None and len(cache) == 0


def test_entries_expire_after_their_ttl():
    cache = enabled_cache(ttl_s=0.0)
    cache.store(cache.epoch, [(KEY, GIVEN)])
    assert cache.get(KEY) is None


def test_a_full_cache_starts_over_instead_of_growing():
    cache = enabled_cache(max_entries=2)
    cache.store(cache.epoch, [(("a", "p", "campus"), GIVEN), (("b", "p", "campus"), GIVEN)])
    cache.store(cache.epoch, [(("c", "p", "campus"), GIVEN)])
    assert len(cache) == 1 and cache.get(("c", "p", "campus")) == GIVEN


def test_an_answer_read_in_one_controller_is_no_answer_in_another():
    cache = enabled_cache()
    cache.store(cache.epoch, [(KEY, GIVEN)])

    assert cache.get(KEY) == GIVEN
    assert cache.get(("alice", "gate", "bank")) is None  # read afresh: there the purpose is not its own

    cache.store(cache.epoch, [(("alice", "gate", "bank"), ConsentSnapshot(False, False))])
    cache.invalidate(PAIR)  # a change of the pair drops it whichever controller asked
    assert cache.get(("alice", "gate", "bank")) is None and len(cache) == 0
