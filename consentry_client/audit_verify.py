"""Offline verification of an audit export, with nothing but the audit log's public key: what a DPO,
an auditor or a regulator runs on the file `ExportEvents` (or `consentry audit export`) wrote.

    from consentry_client.audit_verify import verify_export

    verdict = verify_export(open("alice.jsonl").read().splitlines(), open("audit.pem").read(),
                            controller="acme-campus")
    assert verdict.ok, verdict.problems

The file is JSON Lines. Line 1 is the signed checkpoint: a note naming the log, its size, its root
hash and the time, signed with Ed25519. Then one line per entry: its leaf index, its exact canonical
JSON and its inclusion proof. Last, if an earlier tree size was named, the consistency proof from it.
Hashes and signatures are base64. Every entry names its controller ("controllerId" in its JSON, so
the signed leaf itself says whose it is); given `controller`, each entry must name it. An entry from
before controllers names none: it counts as the default controller's, so it passes only if
`default_controller` (the deployment's, as its operator states it) is the expected controller. The tree is RFC 9162's (2.1.1); the proofs are checked as 2.1.3.2
and 2.1.4.2 say, step for step. The audit service checks its own log with the same functions."""

import base64
import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def leaf_hashes(bodies: Iterable[bytes]) -> list[bytes]:
    """leaf_hash of each body, without a call per body (a third of the time over a whole log)."""
    sha256 = hashlib.sha256
    return [sha256(_LEAF_PREFIX + data).digest() for data in bodies]


def parent_hashes(level: Sequence[bytes], start: int = 0) -> list[bytes]:
    """node_hash of each pair (level[i], level[i + 1]) for i = start, start + 2, ...: the parents of a
    tree level from index `start` on (even), an odd last node left without one."""
    sha256 = hashlib.sha256
    return [sha256(_NODE_PREFIX + level[i] + level[i + 1]).digest() for i in range(start, len(level) - 1, 2)]


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


def parse_note(note: bytes) -> tuple[str, int, bytes]:
    """(origin, tree size, root hash); ValueError if the text is not a checkpoint note."""
    lines = note.decode().split("\n")
    if len(lines) != 5 or lines[4] != "":
        raise ValueError("a checkpoint note has four lines")
    return lines[0], int(lines[1]), base64.b64decode(lines[2], validate=True)


def verify_checkpoint(public_key_pem: str, note: bytes, signature: bytes) -> tuple[int, bytes] | None:
    """(tree size, root hash) if the signature over the note is valid, None otherwise."""
    key = serialization.load_pem_public_key(public_key_pem.encode())
    if not isinstance(key, Ed25519PublicKey):
        return None
    try:
        key.verify(signature, note)
        _, size, root = parse_note(note)
    except (InvalidSignature, ValueError, UnicodeDecodeError):
        return None
    return size, root


@dataclass
class Verdict:
    tree_size: int = 0
    entries_verified: int = 0
    consistent_with: int | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and self.tree_size > 0


def _signed(line: dict, public_key_pem: str, what: str, verdict: Verdict) -> tuple[int, bytes] | None:
    try:
        signed = verify_checkpoint(public_key_pem, base64.b64decode(line["note"]), base64.b64decode(line["signature"]))
    except (KeyError, TypeError, ValueError):
        signed = None
    if signed is None:
        verdict.problems.append(f"{what}: signature does not verify with the given public key")
    return signed


def verify_export(lines: list[str], public_key_pem: str, earlier_checkpoint: dict | None = None, *,
                  controller: str | None = None, default_controller: str | None = None,
                  progress: Callable[[int, int], None] | None = None) -> Verdict:
    """Every entry included in the signed tree (and, given `controller`, that controller's); the tree
    an extension of the earlier checkpoint. `progress(done, total)` hears of every record checked."""
    verdict = Verdict()
    try:
        records = [json.loads(line) for line in lines if line.strip()]
    except ValueError:
        return Verdict(problems=["the file is not JSON Lines"])
    if not records or records[0].get("kind") != "checkpoint":
        return Verdict(problems=["the file does not start with a checkpoint"])
    signed = _signed(records[0], public_key_pem, "checkpoint", verdict)
    if signed is None:
        return verdict
    verdict.tree_size, root = signed
    consistency = None
    for number, record in enumerate(records[1:], start=2):
        if record.get("kind") == "entry":
            if not _entry_included(record, verdict.tree_size, root):
                verdict.problems.append(f"line {number}: entry {record.get('leafIndex')} is not in the signed tree")
            elif controller is not None and (named := _controller_of(record, default_controller)) != controller:
                whose = f"it is {named!r}'s" if named is not None else \
                    "it names none: from before controllers, it is the default controller's"
                verdict.problems.append(f"line {number}: entry {record.get('leafIndex')} is not controller"
                                        f" {controller!r}'s ({whose})")
            else:
                verdict.entries_verified += 1
        elif record.get("kind") == "consistency":
            consistency = record
        else:
            verdict.problems.append(f"line {number}: unknown record")
        if progress is not None:
            progress(number - 1, len(records) - 1)
    if earlier_checkpoint is not None:
        _check_growth(earlier_checkpoint, consistency, public_key_pem, verdict.tree_size, root, verdict)
    return verdict


def _entry_included(record: dict, tree_size: int, root: bytes) -> bool:
    try:
        leaf = leaf_hash(record["entryJson"].encode())
        proof = [base64.b64decode(h, validate=True) for h in record["inclusionProof"]]
        return verify_inclusion(leaf, int(record["leafIndex"]), tree_size, proof, root)
    except (KeyError, TypeError, ValueError, AttributeError):
        return False


def _controller_of(record: dict, default_controller: str | None) -> str | None:
    """The controller the (already proven) entry names; the default one's for an entry from before
    controllers, None if that is not known."""
    try:
        entry = json.loads(record["entryJson"])
    except (KeyError, TypeError, ValueError):
        return None
    if not isinstance(entry, dict):
        return None
    return entry["controllerId"] if "controllerId" in entry else default_controller


def _check_growth(earlier: dict, consistency: dict | None, public_key_pem: str, tree_size: int, root: bytes,
                  verdict: Verdict) -> None:
    old = _signed(earlier, public_key_pem, "earlier checkpoint", verdict)
    if old is None:
        return
    old_size, old_root = old
    if consistency is None or consistency.get("oldSize") != old_size or consistency.get("newSize") != tree_size:
        verdict.problems.append(f"no consistency proof from tree size {old_size} to {tree_size}")
        return
    try:
        proof = [base64.b64decode(h, validate=True) for h in consistency["proof"]]
    except (KeyError, TypeError, ValueError):
        proof = None
    if proof is None or not verify_consistency(old_size, tree_size, old_root, root, proof):
        verdict.problems.append(f"the tree of size {tree_size} is not an extension of the earlier checkpoint")
        return
    verdict.consistent_with = old_size
