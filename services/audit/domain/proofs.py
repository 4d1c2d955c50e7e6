"""RFC 9162 proofs over the stored tree: which ranges of leaves each proof is made of (2.1.3.1,
2.1.4.1). A plan's ranges go through merkle.addresses_for (one fetch) and merkle.hashes_for to become
the proof's hashes. No I/O. The checks of 2.1.3.2 and 2.1.4.2 are the offline verifier's
(consentry_client.audit_verify), which the service uses too."""

from consentry_client.audit_verify import verify_consistency, verify_inclusion
from services.audit.domain.merkle import LeafRange

__all__ = ["consistency_plan", "inclusion_plan", "root_plan", "verify_consistency", "verify_inclusion"]


def _split_point(width: int) -> int:
    """The RFC's k: the largest power of two smaller than width (> 1)."""
    return 1 << ((width - 1).bit_length() - 1)


def root_plan(size: int) -> list[LeafRange]:
    if size < 0:
        raise ValueError(f"tree size {size} is negative")
    return [(0, size)]


def inclusion_plan(index: int, size: int) -> list[LeafRange]:
    """PATH(index, D[size]): the siblings on the way from the leaf up to the root, lowest first."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of size {size}")
    siblings = []
    start, end = 0, size
    while end - start > 1:
        middle = start + _split_point(end - start)
        if index < middle:
            siblings.append((middle, end))
            end = middle
        else:
            siblings.append((start, middle))
            start = middle
    siblings.reverse()
    return siblings


def consistency_plan(old_size: int, new_size: int) -> list[LeafRange]:
    """PROOF(old_size, D[new_size]). The RFC defines it for 0 < old_size < new_size; for the empty old
    tree, or an unchanged one, there is nothing to prove and the proof is empty."""
    if not 0 <= old_size <= new_size:
        raise ValueError(f"a tree of size {old_size} cannot grow into one of size {new_size}")
    if old_size == 0:
        return []
    ranges = []
    start, end = 0, new_size
    # The RFC's flag b: while the subtree still starts at leaf 0, the verifier already holds its hash
    # as the old root, so the proof leaves it out.
    verifier_holds_subtree = True
    while end != old_size:
        middle = start + _split_point(end - start)
        if old_size <= middle:
            ranges.append((middle, end))
            end = middle
        else:
            ranges.append((start, middle))
            start = middle
            verifier_holds_subtree = False
    if not verifier_holds_subtree:
        ranges.append((start, end))
    ranges.reverse()
    return ranges

