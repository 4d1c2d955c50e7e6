"""Which tree sizes are signed, known without a query. A checkpoint never changes or goes, and each
new one is announced (store migration 0004's trigger), so a proof needs no read of the checkpoints to
learn that the size it is asked for is signed, nor which is the latest. Known only while the channel
is up and once the latest was read after it came up; otherwise, and for a size not known, the store
is asked. A size learnt is a fact for good; only the most recent ones are kept."""

from collections import OrderedDict

KEPT = 4096


class SignedSizes:
    def __init__(self, kept: int = KEPT) -> None:
        self._sizes: OrderedDict[int, None] = OrderedDict()
        self._kept = kept
        self._latest = 0
        self._listening = self._ready = False
        self._epoch = 0  # bumped when the channel comes up or goes: a latest read before is not trusted

    @property
    def epoch(self) -> int:
        return self._epoch

    def latest(self) -> int | None:
        """The latest signed size, if known (None: ask the store)."""
        return self._latest if self._ready else None

    def is_signed(self, size: int) -> bool:
        """True if `size` is known to be signed (False: not known, ask the store)."""
        return self._ready and size in self._sizes

    def learnt(self, size: int) -> None:
        """A signed size, from a notification or the store."""
        self._sizes[size] = None
        self._sizes.move_to_end(size)
        if len(self._sizes) > self._kept:
            self._sizes.popitem(last=False)
        self._latest = max(self._latest, size)

    def read_latest(self, size: int, epoch: int) -> None:
        """The latest as the store said, read after `epoch` began: known from now if still listening."""
        self.learnt(size)
        if self._listening and epoch == self._epoch:
            self._ready = True

    # The channel's callbacks (services/common/pg_listener.py)
    def announced(self, payload: str) -> None:
        self.learnt(int(payload))

    def listening(self) -> None:
        self._epoch += 1
        self._listening, self._ready = True, False

    def lost(self) -> None:
        self._epoch += 1
        self._listening = self._ready = False
