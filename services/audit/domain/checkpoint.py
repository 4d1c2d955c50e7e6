"""Signed checkpoints: a short text naming the log, its size, its root hash and the time, signed
with Ed25519. Anyone holding the public key verifies one offline."""

import base64
from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from services.audit.domain.entry import timestamp

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
