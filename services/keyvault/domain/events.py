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
    subject_id: str
    request_id: str
    certificate: Certificate
    type = "keyvault.key.shredded"


Event = SubjectKeyCreated | KeyReleased | SubjectKeyShredded
