"""What a client of the audit log checks, written from RFC 9162 (2.1) and the checkpoint format alone,
without the service's code: leaf and node hashes, the tree head of a stream of leaves, the leaves an
inclusion proof covers, a proof's root, and a signed checkpoint. The load generator checks every
answer with it, and the bare baselines (the store read with plain SQL) use it to do their work."""

from __future__ import annotations

import base64
import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


class TreeHead:
    """MTH of the leaves added so far, one leaf at a time: a stack of (height, hash) of complete
    subtrees, merged as soon as two of the same height meet."""

    def __init__(self) -> None:
        self.size = 0
        self._complete: list[tuple[int, bytes]] = []

    def add(self, leaf: bytes) -> None:
        height, node = 0, leaf
        while self._complete and self._complete[-1][0] == height:
            node = node_hash(self._complete.pop()[1], node)
            height += 1
        self._complete.append((height, node))
        self.size += 1

    def root(self) -> bytes:
        if not self._complete:
            return hashlib.sha256(b"").digest()
        node = self._complete[-1][1]
        for _, left in reversed(self._complete[:-1]):
            node = node_hash(left, node)
        return node


def audit_path(index: int, size: int, first: int = 0) -> list[tuple[int, int]]:
    """PATH(index, D[first:first + size]) as the leaf ranges [start, end) of its hashes, lowest first."""
    if size <= 1:
        return []
    split = 1 << ((size - 1).bit_length() - 1)  # the largest power of two below size
    if index < first + split:
        return [*audit_path(index, split, first), (first + split, first + size)]
    return [*audit_path(index, size - split, first + split), (first, first + split)]


def subtrees(start: int, end: int) -> list[tuple[int, int]]:
    """The complete subtrees (height, index at that height) that make up leaves [start, end), largest
    first: where the log keeps the hashes a proof is made of."""
    found = []
    while start < end:
        height = (end - start).bit_length() - 1
        found.append((height, start >> height))
        start += 1 << height
    return found


def range_hash(hashes: list[bytes]) -> bytes:
    """MTH of a range from the hashes of its subtrees, largest first."""
    node = hashes[-1]
    for left in reversed(hashes[:-1]):
        node = node_hash(left, node)
    return node


def proof_root(leaf: bytes, index: int, size: int, hashes: list[bytes]) -> bytes | None:
    """The root a proof leads to from `leaf` at `index` of a tree of `size`; None if the proof does
    not have the shape of that path."""
    path = audit_path(index, size) if 0 <= index < size else None
    if path is None or len(path) != len(hashes):
        return None
    node = leaf
    for (start, _), sibling in zip(path, hashes, strict=True):
        node = node_hash(node, sibling) if start > index else node_hash(sibling, node)
    return node


def signed_tree(public_key_pem: str, note: bytes, signature: bytes) -> tuple[int, bytes] | None:
    """(tree size, root) of a checkpoint whose Ed25519 signature over its note verifies, else None. The
    note: origin, tree size, base64 root, time, each on its own line."""
    key = load_pem_public_key(public_key_pem.encode())
    if not isinstance(key, Ed25519PublicKey):
        return None
    try:
        key.verify(signature, note)
        _, size, root, _ = note.decode().removesuffix("\n").split("\n")
        return int(size), base64.b64decode(root, validate=True)
    except (InvalidSignature, ValueError):
        return None
