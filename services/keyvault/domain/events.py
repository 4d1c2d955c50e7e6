"""What happened to keys, in the past tense. None of these carries key material."""

from dataclasses import dataclass

from services.keyvault.domain.model import Certificate, Operation


@dataclass(frozen=True)
class SubjectKeyCreated:
    subject_id: str
    backend: str
    type = "keyvault.key.created"


@dataclass(frozen=True)
class KeyReleased:
    subject_id: str
    purpose_id: str
    operation: Operation
    client_id: str
    consent_id: str
    type = "keyvault.key.released"


@dataclass(frozen=True)
class SubjectKeyShredded:
    """Names nobody: it is published after the person's event key is gone."""
    request_id: str
    certificate: Certificate
    type = "keyvault.key.shredded"
    subject_id = ""


@dataclass(frozen=True)
class KekRotated:
    kek_name: str
    kek_version: int
    keys_rewrapped: int
    min_available_version: int
    type = "keyvault.kek.rotated"
    subject_id = ""


Event = SubjectKeyCreated | KeyReleased | SubjectKeyShredded | KekRotated
