"""Signed checkpoints: a short text naming the log, its size, its root hash and the time, signed
with Ed25519. Anyone holding the public key verifies one offline (consentry_client.audit_verify)."""

import base64
from dataclasses import dataclass
from datetime import datetime

from consentry_client.audit_verify import verify_checkpoint
from services.audit.domain.entry import timestamp

__all__ = ["ORIGIN", "Checkpoint", "note_for", "verify_checkpoint"]

ORIGIN = "consentry.audit.v1"


@dataclass(frozen=True)
class Checkpoint:
    tree_size: int
    root_hash: bytes
    issued_at: datetime
    note: bytes
    signature: bytes
    key_id: str


def note_for(tree_size: int, root_hash: bytes, issued_at: datetime, origin: str = ORIGIN) -> bytes:
    return f"{origin}\n{tree_size}\n{base64.b64encode(root_hash).decode()}\n{timestamp(issued_at)}\n".encode()

