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
    # A face system used a key DecryptDataKey released to it again, from its memory (RecordReleases).
    REUSE_DATA_KEY = "reuse_data_key"


# Stands in the wrapped_key column of a transit-per-subject key made before keys were named by
# tag: its Vault name holds a SHA-256 of the id, so the backend derives it from the id each time.
LEGACY_TRANSIT_NAME = "legacy-name"


@dataclass(frozen=True)
class SubjectKey:
    subject_id: str  # as the caller gave it; never stored
    # How the store knows the subject: HMAC of the id under the erasure key (services/common/erasure.py).
    tag: str
    state: KeyState
    backend: str
    # The subject key as wrapped by the key-encryption key (None once shredded).
    wrapped_key: str | None
    kek_version: int
    # Kept while SHREDDING: the reference for the certificate, computed while the key still existed.
    subject_ref: str | None = None
    created_at: datetime | None = None
    shredded_at: datetime | None = None
    # The controller the subject is a subject of (the tag is computed for it); None: the default
    # controller's, as every key made before controllers.
    controller_id: str | None = None


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
    # How often the consent has ended (withdrawn, expired): a grant after an end is a new term.
    lapses: int = 0
    # Where the purpose keeps face data: "SERVER", "DEVICE", or "UNSPECIFIED" from a consent service
    # that does not say (treated as DEVICE: keys are released for server storage only).
    storage_location: str = "UNSPECIFIED"
    # An ALLOW's: when the consent expires by time if nothing else changes.
    expires_at: datetime | None = None

    @property
    def server_storage(self) -> bool:
        return self.storage_location == "SERVER"

    @property
    def ended(self) -> bool:
        return self.reason in ("WITHDRAWN", "EXPIRED")


@dataclass(frozen=True)
class Release:
    """A released data key and what its holder needs to keep it in memory safely: the reference
    WatchKeys names the subject's key by, the consent it was released under and when that ends by time."""
    data_key: bytes
    key_ref: bytes
    consent_id: str
    consent_lapses: int  # with consent_id, the consent term the key belongs to
    valid_until: datetime | None


@dataclass(frozen=True)
class ReportedReuse:
    """A face system's account of one key used again from its memory."""
    subject_id: str
    purpose_id: str
    consent_id: str
    consent_lapses: int
    count: int

    def refusal(self, answer: "ConsentAnswer") -> str | None:
        """Why this use may not be answered under the consent check's answer, or None."""
        if not answer.allowed:
            return answer.reason
        if (answer.consent_id, answer.lapses) != (self.consent_id, self.consent_lapses):
            return "KEY_GENERATION_RETIRED"  # released under a term that has ended since
        if not answer.server_storage:
            return "DEVICE_STORAGE_ONLY"
        return None


@dataclass(frozen=True)
class Generation:
    """The key generation of one (subject, purpose) that data keys are issued under. It belongs to one
    term of one consent; when that term ends its secret is destroyed, and with it every data key."""
    number: int
    consent_id: str
    lapses: int
    secret: bytes | None  # None once retired

    def serves(self, answer: ConsentAnswer) -> bool:
        return (answer.allowed and self.secret is not None and self.consent_id == answer.consent_id
                and self.lapses == answer.lapses)

    def ended_by(self, answer: ConsentAnswer) -> bool:
        """Whether the answer shows the consent this generation belongs to has ended. An answer older
        than the generation (fewer lapses) shows nothing."""
        if self.secret is None:
            return False
        if answer.ended:
            return self.lapses <= answer.lapses
        if not answer.consent_id:  # no consent record to compare with (NO_CONSENT, UNKNOWN_PURPOSE)
            return False
        return self.consent_id != answer.consent_id or self.lapses < answer.lapses

    def replaceable_by(self, answer: ConsentAnswer) -> bool:
        """A new generation may follow for this allowed answer: this one is retired or ended, and the
        answer is not older than it."""
        if self.consent_id != answer.consent_id:
            return True
        return self.lapses < answer.lapses or (self.secret is None and self.lapses == answer.lapses)
