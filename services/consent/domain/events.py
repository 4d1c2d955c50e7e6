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
    controller_id: str  # the purpose's
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
    controller_id: str  # whose subject was erased; the same person at another controller was not
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


def controller_of(event: "Event") -> str:
    """The controller an event is about: every event names one (its subject's, its purpose's, its own)."""
    match event:
        case ControllerRegistered(controller):
            return controller.controller_id
        case PurposeRegistered(purpose):
            return purpose.controller_id
        case FilingThresholdCrossed(status):
            return status.controller_id
        case NoticePublished() | SubjectErased():
            return event.controller_id
    return event.consent.controller_id


Event = (ControllerRegistered | PurposeRegistered | NoticePublished | ConsentGranted | ConsentWithdrawn | ConsentExpired
         | ConsentRenewalRequired | SubjectErased | FilingThresholdCrossed)
