"""What the proofs know of the signed sizes without a query: only while the checkpoint channel is up
and after the latest was read since it came up; an announcement makes the next proof read the
latest again; the channel lost, nothing is known and the store is asked again."""

from services.audit.service.signed_sizes import SignedSizes


def test_nothing_is_known_until_the_latest_is_read_while_listening():
    sizes = SignedSizes()
    before_listening = sizes.epoch
    sizes.read_latest(10, before_listening)  # read before the channel was up: a checkpoint may be missed
    unknown = (sizes.latest(), sizes.is_signed(10))
    sizes.listening()
    still_unknown = sizes.latest()
    sizes.read_latest(12, sizes.epoch)
    known = (sizes.latest(), sizes.is_signed(12), sizes.is_signed(13))

    assert unknown == (None, False) and still_unknown is None
    assert known == (12, True, False)


def test_an_announcement_is_a_hint_to_read_the_latest_again_never_a_size_taken_on_trust():
    sizes = SignedSizes()
    sizes.listening()
    sizes.read_latest(12, sizes.epoch)
    reading = sizes.epoch  # a read of the latest under way when the announcement comes
    sizes.announced("15")
    hinted = (sizes.latest(), sizes.is_signed(15))
    sizes.read_latest(12, reading)  # what that read saw: not trusted, it may predate the checkpoint
    sizes.read_latest(15, sizes.epoch)

    assert hinted == (None, False)
    assert sizes.latest() == 15 and sizes.is_signed(15)


def test_a_latest_read_across_a_reconnection_is_not_trusted():
    sizes = SignedSizes()
    sizes.listening()
    epoch = sizes.epoch
    sizes.lost()  # announcements may be missed from here
    sizes.listening()
    sizes.read_latest(20, epoch)

    assert sizes.latest() is None
    sizes.read_latest(21, sizes.epoch)
    assert sizes.latest() == 21


def test_the_channel_lost_nothing_is_known_and_only_recent_sizes_are_kept():
    sizes = SignedSizes(kept=3)
    sizes.listening()
    for size in (1, 2, 3, 4, 5):
        sizes.read_latest(size, sizes.epoch)
    kept = [size for size in range(1, 6) if sizes.is_signed(size)]
    sizes.lost()

    assert kept == [3, 4, 5]
    assert sizes.latest() is None and not sizes.is_signed(5)
