"""Events: what happened, in the past tense. Each becomes one outbox row in the same transaction."""

from dataclasses import dataclass

from services.consent.domain.controller import Controller
from services.consent.domain.filing import FilingState, FilingStatus
from services.consent.domain.model import Consent, Notice, Purpose


@dataclass(frozen=True)
class ControllerRegistered:
    controller: Controller
    type = "controller.registered"


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
class FilingThresholdCrossed:
    """Announced once per mark reached: APPROACHING or FILING_REQUIRED."""
    status: FilingStatus

    @property
    def type(self) -> str:
        return _FILING_TYPES[self.status.state]


_FILING_TYPES = {FilingState.APPROACHING: "consent.filing.approaching",
                 FilingState.FILING_REQUIRED: "consent.filing.required"}


Event = (ControllerRegistered | PurposeRegistered | NoticePublished | ConsentGranted | ConsentWithdrawn | ConsentExpired
         | ConsentRenewalRequired | SubjectErased | FilingThresholdCrossed)
