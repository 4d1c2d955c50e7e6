"""What happened to keys, in the past tense. None of these carries key material."""

from dataclasses import dataclass

from services.keyvault.domain.model import Certificate, Operation


@dataclass(frozen=True)
class SubjectKeyCreated:
    subject_id: str
    backend: str
    controller_id: str | None  # the controller the subject is a subject of
    type = "keyvault.key.created"


@dataclass(frozen=True)
class KeyReleased:
    subject_id: str
    purpose_id: str
    operation: Operation
    client_id: str
    consent_id: str
    controller_id: str | None
    count: int = 1  # more for a face system's account of a key used again from its memory
    type = "keyvault.key.released"


@dataclass(frozen=True)
class PurposeKeysRetired:
    """A key generation's secret was destroyed: its consent ended, so its data keys are unreadable."""
    subject_id: str
    purpose_id: str
    generation: int
    consent_id: str
    controller_id: str | None
    type = "keyvault.generation.retired"


@dataclass(frozen=True)
class SubjectKeyShredded:
    """Names nobody: it is published after the person's event key is gone. The controller (not
    personal) says whose subject it was, as the certificate does."""
    request_id: str
    certificate: Certificate
    controller_id: str | None
    type = "keyvault.key.shredded"
    subject_id = ""


@dataclass(frozen=True)
class KekRotated:
    """Names nobody; the controller whose KEK it was travels on the envelope."""
    kek_name: str
    kek_version: int
    keys_rewrapped: int
    min_available_version: int
    controller_id: str | None
    type = "keyvault.kek.rotated"
    subject_id = ""


@dataclass(frozen=True)
class ControllerOffboarded:
    """Every key of the controller's subjects destroyed at once. Names nobody; the controller travels
    on the envelope, as it is named in the signed certificate."""
    certificate: Certificate
    subject_keys: int
    controller_id: str | None
    type = "keyvault.controller.offboarded"
    subject_id = ""


Event = SubjectKeyCreated | KeyReleased | PurposeKeysRetired | SubjectKeyShredded | KekRotated | ControllerOffboarded
