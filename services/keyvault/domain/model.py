"""Subject keys: one per subject, active until shredded, never re-created after that. Plain Python."""

from dataclasses import dataclass
from datetime import datetime
from enum import Enum


class KeyState(Enum):
    ABSENT = 1
    ACTIVE = 2
    SHREDDED = 3
    # Vault's copy is being destroyed: already unusable, finished by the shred or its retry.
    SHREDDING = 4

    @property
    def erased(self) -> bool:
        return self in (KeyState.SHREDDED, KeyState.SHREDDING)


class Operation(Enum):
    GENERATE_DATA_KEY = "generate_data_key"
    DECRYPT_DATA_KEY = "decrypt_data_key"
    ENCRYPT = "encrypt"
    DECRYPT = "decrypt"


@dataclass(frozen=True)
class SubjectKey:
    subject_id: str
    state: KeyState
    backend: str
    # The subject key as wrapped by the key-encryption key (None once shredded).
    wrapped_key: str | None
    kek_version: int
    # Kept while SHREDDING: the reference for the certificate, computed while the key still existed.
    subject_ref: str | None = None
    created_at: datetime | None = None
    shredded_at: datetime | None = None


@dataclass(frozen=True)
class Certificate:
    certificate_json: bytes
    signature: bytes
    key_id: str


@dataclass(frozen=True)
class ConsentAnswer:
    allowed: bool
    reason: str
    consent_id: str
