"""Commands: what a caller orders the consent service to do."""

from dataclasses import dataclass
from datetime import datetime

from services.consent.domain.controller import Controller
from services.consent.domain.model import Actor, CollectionMethod, Purpose


@dataclass(frozen=True)
class RegisterController:
    controller: Controller


@dataclass(frozen=True)
class RegisterPurpose:
    purpose: Purpose
    # The controller the caller acts for (the purpose must be its own); None: an operator, who may name any.
    acting_for: str | None = None


@dataclass(frozen=True)
class PublishNotice:
    purpose_id: str
    texts: tuple[tuple[str, str], ...]  # (language, text)
    material_change: bool
    # The controller the call is in, whose purpose it is: the caller's own, or the one an operator named;
    # None: an operator who named none, for whom the purpose id finds the one controller that uses it.
    acting_for: str | None = None


@dataclass(frozen=True)
class GrantConsent:
    subject_id: str
    purpose_id: str
    notice_version: int
    notice_language: str
    notice_hash: str
    collection_method: CollectionMethod
    evidence_ref: str
    actor: Actor
    subject_age: int
    jurisdiction: str
    alternative_offered: bool
    acting_for: str | None = None  # as in PublishNotice


@dataclass(frozen=True)
class WithdrawConsent:
    subject_id: str
    purpose_id: str
    actor: Actor
    reason: str
    # How the person withdrew, and the evidence of it, where the caller states them.
    collection_method: CollectionMethod | None = None
    evidence_ref: str = ""
    acting_for: str | None = None  # as in PublishNotice


@dataclass(frozen=True)
class RecordInteraction:
    subject_id: str
    purpose_id: str
    occurred_at: datetime
    acting_for: str | None = None  # as in PublishNotice


@dataclass(frozen=True)
class EraseSubject:
    subject_id: str
    request_id: str
    # The controller the subject is a subject of: the same person at another controller is untouched.
    controller_id: str


@dataclass(frozen=True)
class ExpireConsents:
    as_of: datetime
    batch_size: int = 1000
