"""The audit log's Merkle tree against RFC 9162 itself: a deliberately naive reference written from the
recursive definitions of 2.1.1-2.1.4 checks the frontier, the proof plans over stored nodes and the
verifiers, and every altered proof must fail."""

import hashlib
from functools import cache

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from services.audit.domain.merkle import (
    EMPTY_ROOT, Frontier, addresses_for, fold, hashes_for, leaf_hash, node_hash, perfect_nodes,
)
from services.audit.domain.proofs import (
    consistency_plan, inclusion_plan, root_plan, verify_consistency, verify_inclusion,
)

MAX_SIZE = 300
DATA = [f"audit event {i}".encode() for i in range(MAX_SIZE)]


# --- Reference: RFC 9162 2.1.1-2.1.4 as written, recursion and list slicing, no cleverness ---------

def ref_hash(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def ref_k(n: int) -> int:
    """The largest power of two smaller than n, by counting."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: list[bytes]) -> bytes:
    if len(d) == 0:
        return ref_hash(b"")
    if len(d) == 1:
        return ref_hash(b"\x00" + d[0])
    k = ref_k(len(d))
    return ref_hash(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:]))


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = ref_k(len(d))
    if m < k:
        return ref_path(m, d[:k]) + [ref_mth(d[k:])]
    return ref_path(m - k, d[k:]) + [ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    if m == len(d):
        return [] if b else [ref_mth(d)]
    k = ref_k(len(d))
    if m <= k:
        return ref_subproof(m, d[:k], b) + [ref_mth(d[k:])]
    return ref_subproof(m - k, d[k:], False) + [ref_mth(d[:k])]


def ref_proof(m: int, d: list[bytes]) -> list[bytes]:
    return ref_subproof(m, d, True)


def ref_root_from_path(leaf: bytes, m: int, n: int, path: list[bytes]) -> bytes | None:
    """PATH(m, D[n]) run backwards; None when the path has the wrong length for its shape."""
    if n == 1:
        return None if path else leaf
    if not path:
        return None
    *below, sibling = path
    k = ref_k(n)
    if m < k:
        subtree = ref_root_from_path(leaf, m, k, below)
        return None if subtree is None else ref_hash(b"\x01" + subtree + sibling)
    subtree = ref_root_from_path(leaf, m - k, n - k, below)
    return None if subtree is None else ref_hash(b"\x01" + sibling + subtree)


def ref_verify_inclusion(leaf: bytes, m: int, n: int, path: list[bytes], root: bytes) -> bool:
    return 0 <= m < n and ref_root_from_path(leaf, m, n, path) == root


def ref_roots_from_subproof(m: int, n: int, b: bool, proof: list[bytes],
                            old_root: bytes) -> tuple[bytes, bytes] | None:
    """SUBPROOF(m, D[n], b) run backwards: (old subtree hash, new subtree hash), or None when the proof
    has the wrong length for its shape."""
    if m == n:
        if b:
            return None if proof else (old_root, old_root)
        return (proof[0], proof[0]) if len(proof) == 1 else None
    if not proof:
        return None
    *below, last = proof
    k = ref_k(n)
    if m <= k:
        subtrees = ref_roots_from_subproof(m, k, b, below, old_root)
        return None if subtrees is None else (subtrees[0], ref_hash(b"\x01" + subtrees[1] + last))
    subtrees = ref_roots_from_subproof(m - k, n - k, False, below, old_root)
    if subtrees is None:
        return None
    return ref_hash(b"\x01" + last + subtrees[0]), ref_hash(b"\x01" + last + subtrees[1])


def ref_verify_consistency(m: int, n: int, old_root: bytes, new_root: bytes, proof: list[bytes]) -> bool:
    if not 0 <= m <= n:
        return False
    # Outside the RFC's 0 < m < n: the empty tree and an unchanged tree need no proof.
    if m == 0:
        return not proof and old_root == ref_hash(b"") and (n > 0 or new_root == ref_hash(b""))
    if m == n:
        return not proof and old_root == new_root
    return ref_roots_from_subproof(m, n, True, proof, old_root) == (old_root, new_root)


@cache
def ref_root(size: int) -> bytes:
    return ref_mth(DATA[:size])


# --- The tree under test: nodes stored as the service would store them ------------------------------

def _store_everything() -> dict[tuple[int, int], bytes]:
    frontier = Frontier()
    return {(level, index): node for level, index, node in frontier.extend(map(leaf_hash, DATA))}


STORED = _store_everything()


def fetch(ranges: list[tuple[int, int]], size: int) -> dict[tuple[int, int], bytes]:
    """One query's worth of nodes; a node not yet complete at this size does not exist."""
    wanted = addresses_for(ranges)
    assert all((index + 1) << level <= size for level, index in wanted)
    return {address: STORED[address] for address in wanted}


def served_inclusion_proof(index: int, size: int) -> list[bytes]:
    plan = inclusion_plan(index, size)
    return hashes_for(plan, fetch(plan, size))


def served_consistency_proof(old_size: int, new_size: int) -> list[bytes]:
    plan = consistency_plan(old_size, new_size)
    return hashes_for(plan, fetch(plan, new_size))


def flip(node: bytes, bit: int) -> bytes:
    flipped = bytearray(node)
    flipped[bit // 8] ^= 1 << (bit % 8)
    return bytes(flipped)


@st.composite
def leaves_in_trees(draw, min_size: int = 1) -> tuple[int, int]:
    size = draw(st.integers(min_size, MAX_SIZE))
    return draw(st.integers(0, size - 1)), size


@st.composite
def growths(draw) -> tuple[int, int]:
    new_size = draw(st.integers(2, MAX_SIZE))
    return draw(st.integers(1, new_size - 1)), new_size


bits = st.integers(0, 255)
any_hashes = st.binary(min_size=32, max_size=32)


# --- Known answers -----------------------------------------------------------------------------------

def test_empty_tree_root_is_the_hash_of_nothing():
    assert EMPTY_ROOT == bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    assert Frontier().root() == EMPTY_ROOT
    assert hashes_for(root_plan(0), {}) == [EMPTY_ROOT]


def test_three_leaf_tree_matches_hashes_worked_out_by_hand():
    a, b, c = (hashlib.sha256(b"\x00" + data).digest() for data in (b"a", b"b", b"c"))
    ab = hashlib.sha256(b"\x01" + a + b).digest()
    root = hashlib.sha256(b"\x01" + ab + c).digest()
    frontier = Frontier()
    stored = {(level, index): node for level, index, node in frontier.extend([a, b, c])}

    assert [leaf_hash(data) for data in (b"a", b"b", b"c")] == [a, b, c]
    assert node_hash(a, b) == ab
    assert stored == {(0, 0): a, (0, 1): b, (1, 0): ab, (0, 2): c}
    assert frontier.root() == root
    assert hashes_for(inclusion_plan(0, 3), stored) == [b, c]
    assert hashes_for(inclusion_plan(2, 3), stored) == [ab]
    assert hashes_for(consistency_plan(1, 3), stored) == [b, c]
    assert hashes_for(consistency_plan(2, 3), stored) == [c]
    assert verify_inclusion(a, 0, 3, [b, c], root)
    assert verify_consistency(2, 3, ab, root, [c])


def test_roots_match_the_published_certificate_transparency_test_vectors():
    data = [b"", b"\x00", b"\x10", b"\x20\x21", b"\x30\x31", b"\x40\x41\x42\x43",
            bytes(range(0x50, 0x58)), bytes(range(0x60, 0x70))]
    published = {1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                 2: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
                 3: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
                 8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"}
    frontier = Frontier()
    for size, data_item in enumerate(data, start=1):
        frontier.append(leaf_hash(data_item))
        if size in published:
            assert frontier.root().hex() == published[size]


# --- Frontier and stored nodes -----------------------------------------------------------------------

def test_every_stored_node_is_the_mth_of_the_leaves_it_covers():
    for (level, index), node in STORED.items():
        assert node == ref_mth(DATA[index << level:(index + 1) << level])


@given(st.integers(0, MAX_SIZE))
def test_frontier_root_is_the_rfc_root_and_resumes_from_stored_nodes(size):
    frontier = Frontier()
    frontier.extend(map(leaf_hash, DATA[:size]))
    resumed = Frontier.from_nodes(size, fetch([(0, size)], size))

    assert frontier.size == resumed.size == size
    assert frontier.root() == resumed.root() == ref_root(size)
    assert [(level, index) for level, index, _ in frontier.nodes()] == perfect_nodes(0, size)
    assert frontier.nodes() == resumed.nodes()
    assert hashes_for(root_plan(size), fetch(root_plan(size), size)) == [ref_root(size)]


@given(st.lists(st.integers(0, 40), max_size=MAX_SIZE // 40))
def test_batches_split_anywhere_store_the_same_nodes(batch_sizes):
    leaves = list(map(leaf_hash, DATA[:sum(batch_sizes)]))
    one_by_one = Frontier()
    expected = [node for leaf in leaves for node in one_by_one.append(leaf)]

    written: list[tuple[int, int, bytes]] = []
    start = 0
    for batch_size in batch_sizes:
        # Each batch resumes from what the previous one stored, as a fresh service process would.
        frontier = Frontier.from_nodes(start, {(level, index): node for level, index, node in written})
        written += frontier.extend(leaves[start:start + batch_size])
        start += batch_size
        assert frontier.root() == ref_root(start)
    assert written == expected


@given(st.integers(0, MAX_SIZE // 2), st.integers(1, MAX_SIZE // 2))
def test_a_copy_grows_without_moving_the_original(size, more):
    original = Frontier()
    original.extend(map(leaf_hash, DATA[:size]))
    grown = original.copy()
    grown.extend(map(leaf_hash, DATA[size:size + more]))
    assert (original.size, original.root()) == (size, ref_root(size))
    assert (grown.size, grown.root()) == (size + more, ref_root(size + more))


def test_appending_something_other_than_a_leaf_hash_is_refused():
    for bad in (b"", b"x" * 31, b"x" * 33, "a" * 32):
        with pytest.raises(ValueError):
            Frontier().append(bad)


@given(st.integers(1, 128), st.integers(0, 3), st.data())
def test_aligned_ranges_fold_to_their_mth(width, extra_alignment, data):
    alignment = 1 << (width.bit_length() - 1 + extra_alignment)
    start = alignment * data.draw(st.integers(0, (MAX_SIZE - width) // alignment))
    nodes = perfect_nodes(start, start + width)
    assert sum(1 << level for level, _ in nodes) == width
    assert fold([STORED[address] for address in nodes]) == ref_mth(DATA[start:start + width])


def test_misaligned_ranges_and_bad_plans_are_refused():
    for start, end in [(1, 3), (2, 6), (4, 12), (-1, 0), (5, 4)]:
        with pytest.raises(ValueError):
            perfect_nodes(start, end)
    for plan, args in [(inclusion_plan, (3, 3)), (inclusion_plan, (-1, 3)), (inclusion_plan, (0, 0)),
                       (consistency_plan, (4, 3)), (consistency_plan, (-1, 3)), (root_plan, (-1,))]:
        with pytest.raises(ValueError):
            plan(*args)


# --- Proofs served from stored nodes are the RFC's and verify -------------------------------------

@given(leaves_in_trees())
def test_inclusion_proof_is_the_rfc_path_and_verifies(case):
    index, size = case
    proof = served_inclusion_proof(index, size)
    assert proof == ref_path(index, DATA[:size])
    assert verify_inclusion(leaf_hash(DATA[index]), index, size, proof, ref_root(size))


@given(st.integers(1, MAX_SIZE), st.data())
def test_consistency_proof_is_the_rfc_proof_and_verifies(new_size, data):
    old_size = data.draw(st.integers(1, new_size))
    proof = served_consistency_proof(old_size, new_size)
    assert proof == ref_proof(old_size, DATA[:new_size])
    assert verify_consistency(old_size, new_size, ref_root(old_size), ref_root(new_size), proof)


@given(st.integers(0, MAX_SIZE))
def test_empty_tree_is_consistent_with_every_tree_without_a_proof(new_size):
    assert consistency_plan(0, new_size) == []
    assert verify_consistency(0, new_size, EMPTY_ROOT, ref_root(new_size), [])
    assert not verify_consistency(0, new_size, ref_root(1), ref_root(new_size), [])
    assert not verify_consistency(0, new_size, EMPTY_ROOT, ref_root(new_size), [ref_root(1)])


# --- Altered inclusion proofs fail ------------------------------------------------------------------

@given(leaves_in_trees(min_size=2), st.data())
def test_inclusion_fails_with_a_bit_flipped_in_any_proof_hash(case, data):
    index, size = case
    proof = served_inclusion_proof(index, size)
    position = data.draw(st.integers(0, len(proof) - 1))
    proof[position] = flip(proof[position], data.draw(bits))
    assert not verify_inclusion(leaf_hash(DATA[index]), index, size, proof, ref_root(size))


@given(leaves_in_trees(), st.integers(-3, 2 * MAX_SIZE))
def test_inclusion_fails_for_any_other_index(case, other_index):
    index, size = case
    assume(other_index != index)
    proof = served_inclusion_proof(index, size)
    assert not verify_inclusion(leaf_hash(DATA[index]), other_index, size, proof, ref_root(size))


@given(leaves_in_trees(), st.data())
def test_inclusion_fails_for_another_leaf_or_root(case, data):
    index, size = case
    proof = served_inclusion_proof(index, size)
    other = data.draw(st.integers(0, MAX_SIZE - 1).filter(lambda i: i != index))
    other_size = data.draw(st.integers(0, MAX_SIZE).filter(lambda s: s != size))
    assert not verify_inclusion(leaf_hash(DATA[other]), index, size, proof, ref_root(size))
    assert not verify_inclusion(leaf_hash(DATA[index]), index, size, proof, ref_root(other_size))
    assert not verify_inclusion(leaf_hash(DATA[index]), index, size, proof,
                                flip(ref_root(size), data.draw(bits)))


@given(leaves_in_trees(), st.data())
def test_inclusion_fails_for_another_tree_size_and_its_root(case, data):
    index, size = case
    proof = served_inclusion_proof(index, size)
    near = [s for s in (size - 1, size + 1) if 0 <= s <= MAX_SIZE]
    claimed = data.draw(st.sampled_from(near) | st.integers(0, MAX_SIZE).filter(lambda s: s != size))
    assert not verify_inclusion(leaf_hash(DATA[index]), index, claimed, proof, ref_root(claimed))


@given(leaves_in_trees(), st.integers(-2, 2 * MAX_SIZE))
def test_inclusion_under_another_size_with_the_same_root_passes_only_if_the_rfc_path_allows(case, claimed):
    index, size = case
    leaf, proof, root = leaf_hash(DATA[index]), served_inclusion_proof(index, size), ref_root(size)
    assert verify_inclusion(leaf, index, claimed, proof, root) == ref_verify_inclusion(
        leaf, index, claimed, proof, root)


def test_tree_size_is_bound_by_the_signed_root_not_by_the_proof():
    # Leaf 0's path in a tree of 4 has the shape it has in a tree of 3, so only the root tells them apart.
    proof = served_inclusion_proof(0, 4)
    assert verify_inclusion(leaf_hash(DATA[0]), 0, 3, proof, ref_root(4))
    assert not verify_inclusion(leaf_hash(DATA[0]), 0, 3, proof, ref_root(3))


@given(leaves_in_trees(min_size=2), st.data())
def test_inclusion_fails_with_hashes_dropped(case, data):
    index, size = case
    proof = served_inclusion_proof(index, size)
    kept = data.draw(st.integers(0, len(proof) - 1))
    dropped_at = data.draw(st.integers(0, len(proof) - 1))
    leaf, root = leaf_hash(DATA[index]), ref_root(size)
    assert not verify_inclusion(leaf, index, size, proof[:kept], root)
    assert not verify_inclusion(leaf, index, size, proof[:dropped_at] + proof[dropped_at + 1:], root)


@given(leaves_in_trees(), st.data())
def test_inclusion_fails_with_a_hash_added(case, data):
    index, size = case
    proof = served_inclusion_proof(index, size)
    extra = data.draw(any_hashes | st.sampled_from([ref_root(size), *STORED.values()]))
    position = data.draw(st.integers(0, len(proof)))
    leaf, root = leaf_hash(DATA[index]), ref_root(size)
    assert not verify_inclusion(leaf, index, size, proof + [extra], root)
    assert not verify_inclusion(leaf, index, size, proof[:position] + [extra] + proof[position:], root)


@given(leaves_in_trees(min_size=3), st.data())
def test_inclusion_fails_with_two_hashes_swapped(case, data):
    index, size = case
    proof = served_inclusion_proof(index, size)
    assume(len(proof) >= 2)
    first = data.draw(st.integers(0, len(proof) - 2))
    second = data.draw(st.integers(first + 1, len(proof) - 1))
    proof[first], proof[second] = proof[second], proof[first]
    assert not verify_inclusion(leaf_hash(DATA[index]), index, size, proof, ref_root(size))


@given(leaves_in_trees(), st.data())
def test_inclusion_verdict_on_any_altered_input_agrees_with_the_reference(case, data):
    index, size = case
    proof = served_inclusion_proof(index, size)
    if proof and data.draw(st.booleans()):
        proof[data.draw(st.integers(0, len(proof) - 1))] = data.draw(any_hashes)
    proof = proof[:data.draw(st.integers(0, len(proof)))] if data.draw(st.booleans()) else proof
    claimed_index = data.draw(st.sampled_from([index, index - 1, index + 1]) | st.integers(-1, MAX_SIZE))
    claimed_size = data.draw(st.sampled_from([size, size - 1, size + 1]) | st.integers(-1, MAX_SIZE))
    root = data.draw(st.sampled_from([ref_root(size), ref_root(min(max(claimed_size, 0), MAX_SIZE))]))
    leaf = leaf_hash(DATA[index])
    assert verify_inclusion(leaf, claimed_index, claimed_size, proof, root) == ref_verify_inclusion(
        leaf, claimed_index, claimed_size, proof, root)


# --- Altered consistency proofs fail ----------------------------------------------------------------

def check_consistency(old_size: int, new_size: int, proof: list[bytes], old_root: bytes | None = None,
                      new_root: bytes | None = None) -> bool:
    old_root = ref_root(old_size) if old_root is None else old_root
    new_root = ref_root(new_size) if new_root is None else new_root
    return verify_consistency(old_size, new_size, old_root, new_root, proof)


@given(growths(), st.data())
def test_consistency_fails_with_a_bit_flipped_in_any_proof_hash(case, data):
    old_size, new_size = case
    proof = served_consistency_proof(old_size, new_size)
    position = data.draw(st.integers(0, len(proof) - 1))
    proof[position] = flip(proof[position], data.draw(bits))
    assert not check_consistency(old_size, new_size, proof)


@given(growths(), st.data())
def test_consistency_fails_for_a_wrong_old_or_new_root(case, data):
    old_size, new_size = case
    proof = served_consistency_proof(old_size, new_size)
    other_old = data.draw(st.integers(0, MAX_SIZE).filter(lambda s: s != old_size))
    other_new = data.draw(st.integers(0, MAX_SIZE).filter(lambda s: s != new_size))
    assert not check_consistency(old_size, new_size, proof, old_root=ref_root(other_old))
    assert not check_consistency(old_size, new_size, proof, old_root=flip(ref_root(old_size), data.draw(bits)))
    assert not check_consistency(old_size, new_size, proof, new_root=ref_root(other_new))
    assert not check_consistency(old_size, new_size, proof, new_root=flip(ref_root(new_size), data.draw(bits)))


@given(growths(), st.data())
def test_consistency_fails_for_other_tree_sizes_and_their_roots(case, data):
    old_size, new_size = case
    proof = served_consistency_proof(old_size, new_size)
    sizes = st.integers(0, MAX_SIZE)
    other_old = data.draw(st.sampled_from([old_size - 1, old_size + 1]) | sizes.filter(lambda s: s != old_size))
    other_new = data.draw(st.sampled_from([new_size - 1, new_size + 1]).filter(lambda s: s <= MAX_SIZE)
                          | sizes.filter(lambda s: s != new_size))
    assert not check_consistency(other_old, new_size, proof)
    assert not check_consistency(old_size, other_new, proof)
    assert not check_consistency(other_old, other_new, proof)


@given(growths(), st.data())
def test_consistency_fails_with_hashes_dropped(case, data):
    old_size, new_size = case
    proof = served_consistency_proof(old_size, new_size)
    kept = data.draw(st.integers(0, len(proof) - 1))
    dropped_at = data.draw(st.integers(0, len(proof) - 1))
    assert not check_consistency(old_size, new_size, proof[:kept])
    assert not check_consistency(old_size, new_size, proof[:dropped_at] + proof[dropped_at + 1:])


@given(growths(), st.data())
def test_consistency_fails_with_a_hash_added(case, data):
    old_size, new_size = case
    proof = served_consistency_proof(old_size, new_size)
    extra = data.draw(any_hashes | st.sampled_from([ref_root(old_size), ref_root(new_size), *STORED.values()]))
    position = data.draw(st.integers(0, len(proof)))
    assert not check_consistency(old_size, new_size, proof + [extra])
    assert not check_consistency(old_size, new_size, proof[:position] + [extra] + proof[position:])


@given(growths(), st.data())
def test_consistency_fails_with_two_hashes_swapped(case, data):
    old_size, new_size = case
    proof = served_consistency_proof(old_size, new_size)
    assume(len(proof) >= 2)
    first = data.draw(st.integers(0, len(proof) - 2))
    second = data.draw(st.integers(first + 1, len(proof) - 1))
    proof[first], proof[second] = proof[second], proof[first]
    assert not check_consistency(old_size, new_size, proof)


@given(st.integers(0, MAX_SIZE), st.data())
def test_unchanged_tree_needs_an_empty_proof_and_equal_roots(size, data):
    assert consistency_plan(size, size) == []
    assert check_consistency(size, size, [])
    assert not check_consistency(size, size, [data.draw(any_hashes)])
    assert not check_consistency(size, size, [], new_root=ref_root(data.draw(
        st.integers(0, MAX_SIZE).filter(lambda s: s != size))))
    if size:
        assert not check_consistency(size, size - 1, [])


@given(growths(), st.data())
def test_consistency_verdict_on_any_altered_input_agrees_with_the_reference(case, data):
    old_size, new_size = case
    proof = served_consistency_proof(old_size, new_size)
    if data.draw(st.booleans()):
        proof[data.draw(st.integers(0, len(proof) - 1))] = data.draw(any_hashes)
    proof = proof[:data.draw(st.integers(0, len(proof)))] if data.draw(st.booleans()) else proof
    sizes = st.integers(-1, MAX_SIZE)
    claimed_old = data.draw(st.sampled_from([old_size, old_size - 1, old_size + 1]) | sizes)
    claimed_new = data.draw(st.sampled_from([new_size, new_size - 1, new_size + 1]) | sizes)
    old_root = data.draw(st.sampled_from([ref_root(old_size), ref_root(max(claimed_old, 0)), EMPTY_ROOT]))
    new_root = data.draw(st.sampled_from([ref_root(new_size), ref_root(min(max(claimed_new, 0), MAX_SIZE))]))
    assert verify_consistency(claimed_old, claimed_new, old_root, new_root, proof) == ref_verify_consistency(
        claimed_old, claimed_new, old_root, new_root, proof)


# --- Malformed input is a failed proof, not an exception --------------------------------------------

GOOD_LEAF, GOOD_PROOF, GOOD_ROOT = leaf_hash(DATA[5]), served_inclusion_proof(5, 13), ref_root(13)


@pytest.mark.parametrize("leaf, index, size, proof, root", [
    (GOOD_LEAF, 13, 13, GOOD_PROOF, GOOD_ROOT),
    (GOOD_LEAF, -8, 13, GOOD_PROOF, GOOD_ROOT),
    (GOOD_LEAF, 5, 0, GOOD_PROOF, GOOD_ROOT),
    (GOOD_LEAF, 5, -13, GOOD_PROOF, GOOD_ROOT),
    (GOOD_LEAF, 5.0, 13, GOOD_PROOF, GOOD_ROOT),
    (GOOD_LEAF, None, 13, GOOD_PROOF, GOOD_ROOT),
    (GOOD_LEAF, True, 13, GOOD_PROOF, GOOD_ROOT),
    (GOOD_LEAF, 5, "13", GOOD_PROOF, GOOD_ROOT),
    (GOOD_LEAF[:31], 5, 13, GOOD_PROOF, GOOD_ROOT),
    (GOOD_LEAF.hex(), 5, 13, GOOD_PROOF, GOOD_ROOT),
    (GOOD_LEAF, 5, 13, None, GOOD_ROOT),
    (GOOD_LEAF, 5, 13, b"".join(GOOD_PROOF), GOOD_ROOT),
    (GOOD_LEAF, 5, 13, [*GOOD_PROOF[:-1], GOOD_PROOF[-1] + b"\x00"], GOOD_ROOT),
    (GOOD_LEAF, 5, 13, [node.hex() for node in GOOD_PROOF], GOOD_ROOT),
    (GOOD_LEAF, 5, 13, GOOD_PROOF, None),
    (GOOD_LEAF, 5, 13, GOOD_PROOF, GOOD_ROOT[:16]),
])
def test_malformed_inclusion_input_fails_without_raising(leaf, index, size, proof, root):
    assert verify_inclusion(GOOD_LEAF, 5, 13, GOOD_PROOF, GOOD_ROOT)
    assert verify_inclusion(leaf, index, size, proof, root) is False


OLD_ROOT, NEW_ROOT, GROWTH_PROOF = ref_root(6), ref_root(13), served_consistency_proof(6, 13)


@pytest.mark.parametrize("old_size, new_size, old_root, new_root, proof", [
    (13, 6, NEW_ROOT, OLD_ROOT, GROWTH_PROOF),
    (0, 13, EMPTY_ROOT, NEW_ROOT, GROWTH_PROOF),
    (6, 6, OLD_ROOT, OLD_ROOT, GROWTH_PROOF),
    (6, 13, OLD_ROOT, NEW_ROOT, []),
    (-6, 13, OLD_ROOT, NEW_ROOT, GROWTH_PROOF),
    (6.0, 13, OLD_ROOT, NEW_ROOT, GROWTH_PROOF),
    (6, None, OLD_ROOT, NEW_ROOT, GROWTH_PROOF),
    (6, 13, OLD_ROOT[:-1], NEW_ROOT, GROWTH_PROOF),
    (6, 13, OLD_ROOT, None, GROWTH_PROOF),
    (6, 13, OLD_ROOT, NEW_ROOT, None),
    (6, 13, OLD_ROOT, NEW_ROOT, b"".join(GROWTH_PROOF)),
    (6, 13, OLD_ROOT, NEW_ROOT, [*GROWTH_PROOF, b""]),
])
def test_malformed_consistency_input_fails_without_raising(old_size, new_size, old_root, new_root, proof):
    assert verify_consistency(6, 13, OLD_ROOT, NEW_ROOT, GROWTH_PROOF)
    assert verify_consistency(old_size, new_size, old_root, new_root, proof) is False
