"""The audit log's Merkle tree as RFC 9162 (2.1.1) defines it: how any range of leaves in a root or
proof maps onto the stored perfect subtrees, and the frontier that grows the tree. No I/O. The
hashing is the offline verifier's (consentry_client.audit_verify), so the log and every check of it
hash alike."""

from collections.abc import Iterable, Mapping, Sequence

from consentry_client.audit_verify import EMPTY_ROOT, HASH_SIZE, leaf_hash, leaf_hashes, node_hash, parent_hashes

__all__ = ["EMPTY_ROOT", "HASH_SIZE", "Frontier", "LeafRange", "NodeAddress", "StoredNode", "addresses_for", "fold",
           "hashes_for", "leaf_hash", "leaf_hashes", "node_hash", "parent_hashes", "perfect_nodes"]

# (level, index): the perfect subtree over leaves [index * 2**level, (index + 1) * 2**level).
NodeAddress = tuple[int, int]
# (start, end): leaves [start, end), whose RFC 9162 Merkle Tree Hash (MTH) a root or proof needs.
LeafRange = tuple[int, int]
# (level, index, hash): one perfect subtree as it is stored.
StoredNode = tuple[int, int, bytes]


def perfect_nodes(start: int, end: int) -> list[NodeAddress]:
    """The perfect subtrees, largest first, whose fold is MTH(leaves[start:end]).

    They are stored nodes only if start is a multiple of the largest one. Every range in an RFC 9162
    root or proof is, because the RFC always splits a tree at a power of two."""
    width = end - start
    if start < 0 or width < 0:
        raise ValueError(f"[{start}, {end}) is not a range of leaves")
    if width and start % (1 << (width.bit_length() - 1)):
        raise ValueError(f"[{start}, {end}) does not start on a boundary of its largest subtree")
    addresses = []
    for level in range(width.bit_length() - 1, -1, -1):
        if width >> level & 1:
            addresses.append((level, start >> level))
            start += 1 << level
    return addresses


def fold(hashes: Sequence[bytes]) -> bytes:
    """MTH of a range from the hashes of its perfect_nodes, in that order.

    The RFC splits n leaves at the largest power of two below n: the left part is the first (largest)
    subtree and the right part is everything after it, so the fold runs from the right. Folding no
    subtrees gives the hash of the empty tree."""
    if not hashes:
        return EMPTY_ROOT
    folded = hashes[-1]
    for left in reversed(hashes[:-1]):
        folded = node_hash(left, folded)
    return folded


def addresses_for(ranges: Iterable[LeafRange]) -> set[NodeAddress]:
    """Every stored node that the MTHs of these ranges need, for a single fetch."""
    return {address for start, end in ranges for address in perfect_nodes(start, end)}


def hashes_for(ranges: Iterable[LeafRange], nodes: Mapping[NodeAddress, bytes]) -> list[bytes]:
    """The MTH of each range, in order, from the fetched nodes; KeyError names a node that is missing."""
    return [fold([nodes[address] for address in perfect_nodes(start, end)]) for start, end in ranges]


class Frontier:
    """The tree's right edge: the hashes of perfect_nodes(0, size). Enough to append leaves and to
    compute the root without reading any other node."""

    def __init__(self) -> None:
        self._size = 0
        self._hashes: list[bytes] = []

    @classmethod
    def from_nodes(cls, size: int, nodes: Mapping[NodeAddress, bytes]) -> "Frontier":
        """Resume a tree of this size from its stored nodes, fetched for perfect_nodes(0, size)."""
        frontier = cls()
        frontier._hashes = [nodes[address] for address in perfect_nodes(0, size)]
        frontier._size = size
        return frontier

    @property
    def size(self) -> int:
        return self._size

    def nodes(self) -> list[StoredNode]:
        return [(level, index, node) for (level, index), node
                in zip(perfect_nodes(0, self._size), self._hashes, strict=True)]

    def root(self) -> bytes:
        return fold(self._hashes)

    def copy(self) -> "Frontier":
        """An independent frontier to grow while a write is in flight; the original stays as it was."""
        twin = Frontier()
        twin._hashes = list(self._hashes)
        twin._size = self._size
        return twin

    def append(self, leaf: bytes) -> list[StoredNode]:
        """Add one leaf hash; returns every node it completes, the leaf itself first, all to be stored."""
        if not isinstance(leaf, bytes) or len(leaf) != HASH_SIZE:
            raise ValueError("a leaf is appended by its 32-byte leaf hash")
        index = self._size
        completed = [(0, index, leaf)]
        node, level = leaf, 0
        # Each trailing one bit of the old size is a finished subtree on the right edge that the new
        # node now pairs up with.
        while index & 1:
            node = node_hash(self._hashes.pop(), node)
            level, index = level + 1, index >> 1
            completed.append((level, index, node))
        self._hashes.append(node)
        self._size += 1
        return completed

    def extend(self, leaves: Iterable[bytes]) -> list[StoredNode]:
        completed: list[StoredNode] = []
        for leaf in leaves:
            completed += self.append(leaf)
        return completed
