"""The export file (JSON Lines) and its offline verification, which needs nothing but the public key.

Line 1 is the signed checkpoint. Then one line per entry: its leaf index, its exact canonical JSON
and its inclusion proof. Last, if the DPO named an earlier tree size, the consistency proof from
it. Hashes and signatures are base64."""

import base64
import json
from dataclasses import dataclass, field

from services.audit.domain import merkle, proofs
from services.audit.domain.checkpoint import Checkpoint, verify_checkpoint


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def checkpoint_line(checkpoint: Checkpoint) -> dict:
    return {"kind": "checkpoint", "treeSize": checkpoint.tree_size, "rootHash": _b64(checkpoint.root_hash),
            "note": _b64(checkpoint.note), "signature": _b64(checkpoint.signature), "keyId": checkpoint.key_id}


def entry_line(leaf_index: int, body: bytes, proof: list[bytes]) -> dict:
    return {"kind": "entry", "leafIndex": leaf_index, "entryJson": body.decode(),
            "inclusionProof": [_b64(h) for h in proof]}


def consistency_line(old_size: int, new_size: int, proof: list[bytes]) -> dict:
    return {"kind": "consistency", "oldSize": old_size, "newSize": new_size, "proof": [_b64(h) for h in proof]}


def dumps(line: dict) -> bytes:
    return json.dumps(line, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


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


def verify_export(lines: list[str], public_key_pem: str, earlier_checkpoint: dict | None = None) -> Verdict:
    """Every entry included in the signed tree; the tree an extension of the earlier checkpoint."""
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
            if _entry_included(record, verdict.tree_size, root):
                verdict.entries_verified += 1
            else:
                verdict.problems.append(f"line {number}: entry {record.get('leafIndex')} is not in the signed tree")
        elif record.get("kind") == "consistency":
            consistency = record
        else:
            verdict.problems.append(f"line {number}: unknown record")
    if earlier_checkpoint is not None:
        _check_growth(earlier_checkpoint, consistency, public_key_pem, verdict.tree_size, root, verdict)
    return verdict


def _entry_included(record: dict, tree_size: int, root: bytes) -> bool:
    try:
        leaf = merkle.leaf_hash(record["entryJson"].encode())
        proof = [base64.b64decode(h, validate=True) for h in record["inclusionProof"]]
        return proofs.verify_inclusion(leaf, int(record["leafIndex"]), tree_size, proof, root)
    except (KeyError, TypeError, ValueError, AttributeError):
        return False


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
    if proof is None or not proofs.verify_consistency(old_size, tree_size, old_root, root, proof):
        verdict.problems.append(f"the tree of size {tree_size} is not an extension of the earlier checkpoint")
        return
    verdict.consistent_with = old_size
