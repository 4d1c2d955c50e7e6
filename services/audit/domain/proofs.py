"""RFC 9162 proofs over the stored tree: which ranges of leaves each proof is made of (2.1.3.1,
2.1.4.1), and the client-side checks of 2.1.3.2 and 2.1.4.2. A plan's ranges go through
merkle.addresses_for (one fetch) and merkle.hashes_for to become the proof's hashes. No I/O."""

from collections.abc import Sequence

from services.audit.domain.merkle import EMPTY_ROOT, HASH_SIZE, LeafRange, node_hash


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


def _is_size(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _are_hashes(values: object) -> bool:
    return isinstance(values, Sequence) and all(
        isinstance(value, bytes) and len(value) == HASH_SIZE for value in values)


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 2.1.3.2, step for step. Malformed input is a failed proof, never an exception."""
    if not (_is_size(index) and _is_size(size) and _are_hashes(proof) and _are_hashes([leaf, root])):
        return False
    if index >= size:
        return False
    fn, sn = index, size - 1
    computed = leaf
    for sibling in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            computed = node_hash(sibling, computed)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            computed = node_hash(computed, sibling)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and computed == root


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes,
                       proof: Sequence[bytes]) -> bool:
    """RFC 9162 2.1.4.2, step for step, plus the two cases the RFC leaves out, each with an empty
    proof: a tree is consistent with itself, and the empty tree with every tree."""
    if not (_is_size(old_size) and _is_size(new_size) and _are_hashes(proof)
            and _are_hashes([old_root, new_root])):
        return False
    if old_size > new_size:
        return False
    # The root of an empty tree is known, so a claim of any other is false.
    if (old_size == 0 and old_root != EMPTY_ROOT) or (new_size == 0 and new_root != EMPTY_ROOT):
        return False
    if not proof:
        return old_size == 0 or (old_size == new_size and old_root == new_root)
    if old_size == 0 or old_size == new_size:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    old_computed = new_computed = path[0]
    for node in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            old_computed = node_hash(node, old_computed)
            new_computed = node_hash(node, new_computed)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            new_computed = node_hash(new_computed, node)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and old_computed == old_root and new_computed == new_root
