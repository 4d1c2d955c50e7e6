"""The export file (JSON Lines), as the service writes it; its offline verification, which needs
nothing but the public key, is the client library's (consentry_client.audit_verify).

Line 1 is the signed checkpoint. Then one line per entry: its leaf index, its exact canonical JSON
and its inclusion proof. Last, if the DPO named an earlier tree size, the consistency proof from
it. Hashes and signatures are base64."""

import base64
import json

from services.audit.domain.checkpoint import Checkpoint


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

