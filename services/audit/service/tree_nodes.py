"""The tree's stored nodes, read for proofs from memory where they are held and from the store where
they are not. A stored node never changes (the sequencer writes it in the transaction that signs
the checkpoint covering it, and the store refuses updates), so a copy read once stays right. Memory
holds a prefix of the tree: every node over the first `covered` leaves, 32 bytes each in one
bytearray per level, about 64 bytes per leaf in all; a proof then needs no database round trip.

The prefix grows in the background to the latest signed size, at start (in steps; a proof asked
meanwhile reads the store) and at each checkpoint announced. A proof at a size memory does not hold
yet, a few checkpoints' worth beyond it, has the new nodes read on the spot, in one query.

Memory is used only while the whole signed log fits in `max_tree_size` leaves (what an operator gives
it): proofs are asked at the latest size, which a prefix of a larger log cannot answer. A log that
outgrows it has its nodes let go, once, with a warning, and every proof then reads the store."""

import asyncio

from services.audit.domain.merkle import HASH_SIZE, NodeAddress
from services.audit.service.ports import LogUnits
from services.common.logging import get_logger
from services.common.uow import STORE_FAILURES

BYTES_PER_LEAF = 2 * HASH_SIZE  # a tree of n leaves has 2n - 1 nodes
STEP = 1 << 16  # leaves whose nodes one query reads; also the largest gap a proof waits for
RETRY_S = 5.0

log = get_logger(__name__)


class TreeNodes:
    def __init__(self, uow: LogUnits, max_tree_size: int = 0, step: int = STEP) -> None:
        """`max_tree_size`: the most leaves whose nodes are held (0: none, every read is the store's)."""
        self._uow, self._max, self._step = uow, max_tree_size, step
        self._levels: list[bytearray] = []  # level -> its first (covered >> level) nodes, joined
        self._stuck = False  # the store lacked nodes memory was to hold next: not asked again
        self._growing = asyncio.Lock()
        self._wake = asyncio.Event()

    @property
    def covered(self) -> int:
        """How many leaves' nodes are in memory: level 0 holds one node per leaf."""
        return len(self._levels[0]) // HASH_SIZE if self._levels else 0

    async def read(self, size: int, addresses: set[NodeAddress]) -> dict[NodeAddress, bytes]:
        """The nodes at `addresses` of a signed tree of `size` leaves; a node the store lacks is left out."""
        if self.covered < size <= self._max and not self._stuck:
            if size - self.covered <= self._step:
                await self._grow(size)
            else:
                self.announced()
        if size > self.covered:
            async with self._uow.autocommit() as store:
                return await store.nodes(addresses)
        return {(level, index): bytes(self._levels[level][index * HASH_SIZE:(index + 1) * HASH_SIZE])
                for level, index in addresses}

    async def run(self) -> None:
        """Fills memory up to the latest signed size, and again whenever woken."""
        while self._max:
            try:
                while True:
                    self._wake.clear()
                    async with self._uow.autocommit() as store:
                        latest = await store.latest_checkpoint()
                    target = latest.tree_size if latest else 0
                    if target > self._max:
                        await self._let_go(target)
                        return
                    while target > self.covered and not self._stuck:
                        if not await self._grow(min(target, self.covered + self._step)):
                            break
                    await self._wake.wait()
            except STORE_FAILURES as error:
                log.warning("the tree's nodes could not be read into memory; proofs read the store meanwhile",
                            error=repr(error), retry_in_s=RETRY_S)
                await asyncio.sleep(RETRY_S)

    def announced(self, _payload: str = "") -> None:
        """A checkpoint was added, or a proof asked for a tree memory does not hold yet: memory grows
        to the latest signed size (an announcement is only a hint: the store is read for that size)."""
        self._wake.set()

    async def _let_go(self, size: int) -> None:
        async with self._growing:
            if self._max:
                log.warning("the audit log has outgrown the memory for its tree: every proof reads the database",
                            tree_size=size, held_up_to=self._max)
            self._max, self._levels = 0, []

    async def _grow(self, size: int) -> bool:
        """Reads the nodes over leaves [covered, size) and adds them, all or none (False: the store
        lacks some, and the proofs that need them read the store, which says so)."""
        async with self._growing:
            start = self.covered
            if size <= start:
                return True
            if size > self._max:  # let go meanwhile
                return False
            ranges = [(level, start >> level, size >> level) for level in range(size.bit_length())
                      if size >> level > start >> level]
            async with self._uow.autocommit() as store:
                found = await store.node_ranges(ranges)
            if any(len(hashes) != end - begin or any(len(h) != HASH_SIZE for h in hashes)
                   for (_, begin, end), hashes in zip(ranges, found, strict=True)):
                log.error("stored tree nodes are missing or malformed: memory holds none after them, and the"
                          " proofs that need them read the store", from_leaf=start, to_leaf=size)
                self._stuck = True
                return False
            self._levels.extend(bytearray() for _ in range(len(ranges) - len(self._levels)))
            for (level, _, _), hashes in zip(ranges, found, strict=True):
                self._levels[level] += b"".join(hashes)
            return True
