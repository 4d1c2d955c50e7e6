"""Events: what happened, in the past tense. Each becomes one outbox row in the same transaction."""

from dataclasses import dataclass

from services.consent.domain.filing import FilingStatus
from services.consent.domain.model import Consent, Notice, Purpose


@dataclass(frozen=True)
class PurposeRegistered:
    purpose: Purpose
    type = "purpose.registered"


@dataclass(frozen=True)
class NoticePublished:
    notices: tuple[Notice, ...]
    type = "purpose.notice.published"


@dataclass(frozen=True)
class ConsentGranted:
    consent: Consent
    type = "consent.granted"


@dataclass(frozen=True)
class ConsentWithdrawn:
    consent: Consent
    reason: str
    type = "consent.withdrawn"


@dataclass(frozen=True)
class ConsentExpired:
    consent: Consent
    cause: str
    type = "consent.expired"


@dataclass(frozen=True)
class ConsentRenewalRequired:
    consent: Consent
    required_notice_version: int
    type = "consent.renewal_required"


@dataclass(frozen=True)
class SubjectErased:
    subject_tombstone: str  # never the id: this event outlives the person
    request_id: str
    consents_erased: int
    type = "consent.subject.erased"


@dataclass(frozen=True)
class FilingApproaching:
    status: FilingStatus
    type = "consent.filing.approaching"


@dataclass(frozen=True)
class FilingRequired:
    status: FilingStatus
    type = "consent.filing.required"


Event = (PurposeRegistered | NoticePublished | ConsentGranted | ConsentWithdrawn | ConsentExpired
         | ConsentRenewalRequired | SubjectErased | FilingApproaching | FilingRequired)
