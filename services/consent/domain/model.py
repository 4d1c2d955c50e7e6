"""The consent domain: purposes with versioned notices, one consent record per subject and purpose,
and the decision the enrolment gate takes. Plain Python, no I/O."""

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import Enum

from services.consent.domain import errors

# BIPA 15(a): destroy at the latest three years after the subject's last interaction.
INACTIVITY_LIMIT = timedelta(days=3 * 365)


class DataCategory(Enum):
    FACE_TEMPLATE = 1
    RAW_IMAGE = 2
    LIVENESS = 3


class StorageLocation(Enum):
    DEVICE = 1
    SERVER = 2


class LegalBasis(Enum):
    SEPARATE_CONSENT = 1
    EXPLICIT_CONSENT = 2
    WRITTEN_RELEASE = 3


class CollectionMethod(Enum):
    APP_SCREEN = 1
    WEB_FORM = 2
    KIOSK = 3
    PAPER_SIGNED = 4
    E_SIGNATURE = 5


class ActorKind(Enum):
    SUBJECT = 1
    GUARDIAN = 2


class ConsentState(Enum):
    GIVEN = 1
    WITHDRAWN = 2
    EXPIRED = 3
    RENEWAL_REQUIRED = 4
    ERASED = 5


class DenyReason(Enum):
    NO_CONSENT = 1
    WITHDRAWN = 2
    EXPIRED = 3
    RENEWAL_REQUIRED = 4
    SUBJECT_ERASED = 5
    UNKNOWN_PURPOSE = 6
    UNAVAILABLE = 7


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Purpose:
    purpose_id: str
    controller_id: str
    name: str
    description: str
    data_categories: tuple[DataCategory, ...]
    storage_location: StorageLocation
    retention: timedelta
    legal_basis: LegalBasis
    non_face_alternative: str
    # Raises the guardian line of the grant's jurisdiction for this purpose; 0 or less never lowers it.
    minimum_age: int
    pia_reference: str
    recipients: tuple[str, ...] = ()
    withdrawal_method: str = ""
    current_notice_version: int = 0
    created_at: datetime | None = None

    @property
    def stores_face_data_on_server(self) -> bool:
        return self.storage_location is StorageLocation.SERVER


@dataclass(frozen=True)
class Notice:
    purpose_id: str
    version: int
    language: str
    text: str
    content_hash: str
    material_change: bool
    published_at: datetime


@dataclass(frozen=True)
class Actor:
    kind: ActorKind
    guardian_id: str = ""
    guardian_verification_ref: str = ""


@dataclass(frozen=True)
class Consent:
    consent_id: str
    subject_id: str
    purpose_id: str
    controller_id: str
    state: ConsentState
    notice_version: int
    notice_language: str
    notice_hash: str
    jurisdiction: str
    collection_method: CollectionMethod
    evidence_ref: str
    actor: Actor
    subject_age: int
    alternative_offered: bool
    granted_at: datetime
    expires_at: datetime
    last_interaction_at: datetime
    updated_at: datetime

    def withdrawn(self, at: datetime) -> "Consent":
        if self.state is not ConsentState.GIVEN and self.state is not ConsentState.RENEWAL_REQUIRED:
            raise errors.ConsentNotActive(self.subject_id, self.purpose_id, self.state.name)
        return replace(self, state=ConsentState.WITHDRAWN, updated_at=at)


@dataclass(frozen=True)
class CheckResult:
    allowed: bool
    reason: DenyReason | None = None
    consent_id: str = ""
    notice_version: int = 0
    # How often this consent has ended (withdrawn, expired): a grant after an end is a new term.
    lapses: int = 0
    # The purpose's: keyvault releases keys only for storage on a server (Measures Art. 8).
    storage_location: StorageLocation | None = None
    # An ALLOW's: when the consent expires by time if nothing else changes (None: never).
    expires_at: datetime | None = None


@dataclass(frozen=True)
class ConsentSnapshot:
    """What the gate needs to know of a record, read in one query for a whole batch."""

    purpose_exists: bool
    subject_erased: bool
    consent_id: str | None = None
    state: ConsentState | None = None
    notice_version: int = 0
    expires_at: datetime | None = None
    last_interaction_at: datetime | None = None
    lapses: int = 0
    storage_location: StorageLocation | None = None


_DENIAL_BY_STATE = {
    ConsentState.WITHDRAWN: DenyReason.WITHDRAWN,
    ConsentState.EXPIRED: DenyReason.EXPIRED,
    ConsentState.RENEWAL_REQUIRED: DenyReason.RENEWAL_REQUIRED,
    ConsentState.ERASED: DenyReason.SUBJECT_ERASED,
}


def decide(snapshot: ConsentSnapshot, now: datetime) -> CheckResult:
    """The enrolment gate. Anything but a current, valid consent is a DENY."""
    if snapshot.subject_erased:
        return CheckResult(False, DenyReason.SUBJECT_ERASED)
    if not snapshot.purpose_exists:
        return CheckResult(False, DenyReason.UNKNOWN_PURPOSE)
    where = snapshot.storage_location
    if snapshot.consent_id is None or snapshot.state is None:
        return CheckResult(False, DenyReason.NO_CONSENT, storage_location=where)
    denial = _DENIAL_BY_STATE.get(snapshot.state)
    # The sweep may not have run yet: an overdue consent is already expired for the gate.
    if denial is None and expiry_cause(snapshot.expires_at, snapshot.last_interaction_at, now) is not None:
        denial = DenyReason.EXPIRED
    ends = None if denial else expiry_deadline(snapshot.expires_at, snapshot.last_interaction_at)
    return CheckResult(denial is None, denial, snapshot.consent_id, snapshot.notice_version, snapshot.lapses, where,
                       ends)


def expiry_deadline(expires_at: datetime | None, last_interaction_at: datetime | None) -> datetime | None:
    """The first moment `expiry_cause` names a cause, if nothing changes until then."""
    inactive = None if last_interaction_at is None else last_interaction_at + INACTIVITY_LIMIT
    return min((d for d in (expires_at, inactive) if d is not None), default=None)


def expiry_cause(expires_at: datetime | None, last_interaction_at: datetime | None, now: datetime) -> str | None:
    if expires_at is not None and expires_at <= now:
        return "retention"
    if last_interaction_at is not None and last_interaction_at + INACTIVITY_LIMIT <= now:
        return "inactivity"
    return None


def check_grant(purpose: Purpose, notice: Notice | None, *, version: int, language: str, seen_hash: str) -> None:
    """A grant must name the current notice exactly as published. (Who may grant is the jurisdiction's
    rule: see jurisdiction.check_grantor.)"""
    if purpose.current_notice_version == 0:
        raise errors.NoNoticePublished(purpose.purpose_id)
    if version != purpose.current_notice_version:
        raise errors.NoticeOutdated(purpose.purpose_id, version, purpose.current_notice_version)
    if notice is None:
        raise errors.NoticeNotFound(purpose.purpose_id, version, language)
    if notice.content_hash != seen_hash:
        raise errors.NoticeHashMismatch(purpose.purpose_id, version, language)
