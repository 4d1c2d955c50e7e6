"""Local cryptography under a subject key: data keys wrapped with AES-256-GCM, bound to subject,
purpose and use by the associated data, and the subject reference for the audit log. Also the inner
layer of a data key: sealed under its (subject, purpose) generation secret before the subject key
wraps it, and the frame that says which generation."""

import hashlib
import hmac
import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from services.keyvault.domain.errors import WrongKeyMaterial

FORMAT_V1 = b"\x01"
# A wrapped data key bound to a key generation: format byte | generation (4 bytes, big-endian) | what
# the backend sealed. Formats below it (the wrapped backend's 0x01, transit's "vault:") predate generations.
FORMAT_GENERATION = 2
_FRAME = struct.Struct(">BI")
_NONCE = 12
MAX_PAYLOAD = 64 * 1024


def new_key() -> bytes:
    return os.urandom(32)


def _aad(kind: str, subject_id: str, purpose_id: str) -> bytes:
    return f"consentry/{kind}/v1\x1f{subject_id}\x1f{purpose_id}".encode()


def seal(subject_key: bytes, kind: str, subject_id: str, purpose_id: str, plaintext: bytes) -> bytes:
    nonce = os.urandom(_NONCE)
    return FORMAT_V1 + nonce + AESGCM(subject_key).encrypt(nonce, plaintext, _aad(kind, subject_id, purpose_id))


def open_sealed(subject_key: bytes, kind: str, subject_id: str, purpose_id: str, sealed: bytes, field: str) -> bytes:
    if len(sealed) < 1 + _NONCE + 16 or sealed[:1] != FORMAT_V1:
        raise WrongKeyMaterial(field)
    nonce, body = sealed[1:1 + _NONCE], sealed[1 + _NONCE:]
    try:
        return AESGCM(subject_key).decrypt(nonce, body, _aad(kind, subject_id, purpose_id))
    except InvalidTag:
        raise WrongKeyMaterial(field) from None


def subject_ref(subject_key: bytes, subject_id: str) -> str:
    """HMAC-SHA256 of the subject id under a key derived from the subject key: stable while the key
    lives, impossible to compute once it is shredded."""
    ref_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"consentry subject-ref v1").derive(subject_key)
    return hmac.new(ref_key, subject_id.encode(), hashlib.sha256).hexdigest()


def _generation_aad(subject_tag: str, purpose_id: str, generation: int) -> bytes:
    # The keyed tag, not the id: the same binding, without the person's id in what is authenticated.
    return f"consentry/data-key-generation/v1\x1f{subject_tag}\x1f{purpose_id}\x1f{generation}".encode()


def seal_generation(secret: bytes, subject_tag: str, purpose_id: str, generation: int, data_key: bytes) -> bytes:
    nonce = os.urandom(_NONCE)
    return nonce + AESGCM(secret).encrypt(nonce, data_key, _generation_aad(subject_tag, purpose_id, generation))


def open_generation(secret: bytes, subject_tag: str, purpose_id: str, generation: int, sealed: bytes,
                    field: str) -> bytes:
    try:
        return AESGCM(secret).decrypt(sealed[:_NONCE], sealed[_NONCE:],
                                      _generation_aad(subject_tag, purpose_id, generation))
    except (InvalidTag, ValueError):
        raise WrongKeyMaterial(field) from None


def framed(generation: int, sealed: bytes) -> bytes:
    return _FRAME.pack(FORMAT_GENERATION, generation) + sealed


def unframed(wrapped: bytes, field: str) -> tuple[int | None, bytes]:
    """(generation, what the backend sealed); no generation for a key wrapped before generations."""
    if not wrapped or wrapped[0] != FORMAT_GENERATION:
        return None, wrapped
    if len(wrapped) <= _FRAME.size:
        raise WrongKeyMaterial(field)
    _, generation = _FRAME.unpack_from(wrapped)
    if generation == 0:
        raise WrongKeyMaterial(field)
    return generation, wrapped[_FRAME.size:]
