"""The decision cache never keeps what a concurrent change may have made stale."""

from services.consent.domain.model import ConsentSnapshot, ConsentState
from services.consent.service.decision_cache import DecisionCache

GIVEN = ConsentSnapshot(True, False, "c-1", ConsentState.GIVEN, 1)
KEY = ("alice", "gate")


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

    cache.invalidate(KEY)

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
    cache.store(cache.epoch, [(("a", "p"), GIVEN), (("b", "p"), GIVEN)])
    cache.store(cache.epoch, [(("c", "p"), GIVEN)])
    assert len(cache) == 1 and cache.get(("c", "p")) == GIVEN
