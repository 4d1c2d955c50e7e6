"""Ed25519 signatures for documents a third party verifies offline (consent receipts, deletion
certificates). The key always comes from a PEM file, so what was signed before a restart still
verifies after it; the dev stack and the tests write their own files (`write_key`)."""

import hashlib
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


class Ed25519Signer:
    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.key_id = hashlib.sha256(raw).hexdigest()[:16]
        self.public_key_pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    @classmethod
    def from_file(cls, path: Path) -> "Ed25519Signer":
        """ValueError, naming the file, when it is missing or holds no unencrypted Ed25519 key."""
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError, TypeError) as error:
            raise ValueError(f"signing key {path}: {error}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"signing key {path}: not an Ed25519 private key")
        return cls(key)

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)


def write_key(path: Path) -> Path:
    """A new Ed25519 private key in a PEM file only its owner can read."""
    key = Ed25519PrivateKey.generate().private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key)
    return path


def verify_signature(public_key_pem: str, document: bytes, signature: bytes) -> bool:
    key = serialization.load_pem_public_key(public_key_pem.encode())
    if not isinstance(key, Ed25519PublicKey):
        return False
    try:
        key.verify(signature, document)
    except Exception:
        return False
    return True
