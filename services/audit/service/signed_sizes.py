"""Which tree sizes are signed, known without a query. A checkpoint never changes or goes, so a size
read from the store stays signed for good, and each new checkpoint is announced (store migration
0004's trigger), so the latest size read stays the latest until an announcement comes: a proof
needs no read of the checkpoints until then. An announcement is taken as a hint only (anyone who
may connect can notify): the next proof reads the latest from the store. Known only while the
channel is up and once the latest was read after it came up or was last announced; otherwise, and
for a size not known, the store is asked. Only the most recent sizes are kept."""

from collections import OrderedDict

KEPT = 4096


class SignedSizes:
    def __init__(self, kept: int = KEPT) -> None:
        self._sizes: OrderedDict[int, None] = OrderedDict()
        self._kept = kept
        self._latest = 0
        self._listening = self._ready = False
        self._epoch = 0  # bumped at each announcement and when the channel comes up or goes: a latest read before is not trusted

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
        """A signed size, as the store said."""
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
    def announced(self, _payload: str) -> None:
        """A checkpoint was added: the latest known is no longer known to be the latest."""
        self._epoch += 1
        self._ready = False

    def listening(self) -> None:
        self._epoch += 1
        self._listening, self._ready = True, False

    def lost(self) -> None:
        self._epoch += 1
        self._listening = self._ready = False
