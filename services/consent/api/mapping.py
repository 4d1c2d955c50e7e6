"""Proto <-> domain for the api: requests to domain objects, results to responses. The records
events embed as well (purpose, consent) are mapped in services/consent/messages.py."""

from consentry.consent.v1 import consent_pb2 as pb
from services.consent.domain.model import (
    Actor, ActorKind, CheckResult, DataCategory, LegalBasis, Notice, Purpose, StorageLocation,
)
from services.consent.domain import events as ev
from services.consent.domain.history import ERASED, ConsentAsOf, HistoryEntry
from services.consent.messages import actor_to_pb, ts
from services.consent.messages import consent_to_pb as consent_to_pb  # re-exported: the servicer maps by `m.`
from services.consent.messages import controller_to_pb as controller_to_pb
from services.consent.messages import purpose_to_pb as purpose_to_pb
from services.consent.service.consents import Receipt

# The history's entries, by the type of the event each was published as.
HISTORY_TYPES = {
    ev.ConsentGranted.type: pb.CONSENT_EVENT_TYPE_GRANTED,
    ev.ConsentWithdrawn.type: pb.CONSENT_EVENT_TYPE_WITHDRAWN,
    ev.ConsentExpired.type: pb.CONSENT_EVENT_TYPE_EXPIRED,
    ev.ConsentRenewalRequired.type: pb.CONSENT_EVENT_TYPE_RENEWAL_REQUIRED,
    ERASED: pb.CONSENT_EVENT_TYPE_ERASED,
}


def purpose_from_pb(p: pb.Purpose) -> Purpose:
    return Purpose(
        purpose_id=p.purpose_id, controller_id=p.controller_id, name=p.name, description=p.description,
        data_categories=tuple(DataCategory(c) for c in p.data_categories),
        storage_location=StorageLocation(p.storage_location), retention=p.retention.ToTimedelta(),
        legal_basis=LegalBasis(p.legal_basis), non_face_alternative=p.non_face_alternative,
        minimum_age=p.minimum_age, pia_reference=p.pia_reference, recipients=tuple(p.recipients),
        withdrawal_method=p.withdrawal_method,
    )


def notice_to_pb(n: Notice) -> pb.Notice:
    return pb.Notice(purpose_id=n.purpose_id, version=n.version, language=n.language, text=n.text,
                     content_hash=n.content_hash, material_change=n.material_change,
                     published_at=ts(n.published_at))


def actor_from_pb(a: pb.Actor) -> Actor:
    return Actor(ActorKind(a.kind), a.guardian_id, a.guardian_verification_ref)


def receipt_to_pb(r: Receipt) -> pb.ConsentReceipt:
    return pb.ConsentReceipt(receipt_json=r.receipt_json, signature=r.signature, key_id=r.key_id)


def history_to_pb(h: HistoryEntry) -> pb.ConsentEvent:
    return pb.ConsentEvent(
        event_id=h.event_id, event_type=HISTORY_TYPES.get(h.event_type, pb.CONSENT_EVENT_TYPE_UNSPECIFIED),
        state=h.state.value, notice_version=h.notice_version,
        actor=actor_to_pb(h.actor), reason=h.reason, occurred_at=ts(h.occurred_at),
        notice_language=h.notice_language, notice_hash=h.notice_hash, jurisdiction=h.jurisdiction,
        collection_method=h.collection_method.value if h.collection_method else pb.COLLECTION_METHOD_UNSPECIFIED,
        evidence_ref=h.evidence_ref, expires_at=ts(h.expires_at) if h.expires_at else None,
    )


def as_of_to_pb(a: ConsentAsOf) -> pb.GetConsentAsOfResponse:
    return pb.GetConsentAsOfResponse(
        state=a.state.value if a.state else pb.CONSENT_STATE_UNSPECIFIED,
        grant=history_to_pb(a.grant) if a.grant else None,
        last_event=history_to_pb(a.last_event) if a.last_event else None,
    )


class CheckResponses:
    """CheckConsent's responses, each made once per answer: the gate hands out one CheckResult object
    for as long as a cached answer holds, so its response is kept by the result's identity (with
    the result, whose identity no other object can take while it is kept). A response is shared by
    every call that gives it, and never changed once made."""

    def __init__(self, max_kept: int = 32_768) -> None:
        self._max = max_kept
        self._made: dict[int, tuple[CheckResult, pb.CheckConsentResponse]] = {}

    def __call__(self, r: CheckResult) -> pb.CheckConsentResponse:
        kept = self._made.get(id(r))
        if kept is not None and kept[0] is r:
            return kept[1]
        if len(self._made) >= self._max:
            self._made.clear()
        response = check_to_pb(r)
        self._made[id(r)] = (r, response)
        return response


def check_to_pb(r: CheckResult) -> pb.CheckConsentResponse:
    return pb.CheckConsentResponse(
        decision=pb.DECISION_ALLOW if r.allowed else pb.DECISION_DENY,
        reason=r.reason.value if r.reason else pb.DENY_REASON_UNSPECIFIED,
        consent_id=r.consent_id, notice_version=r.notice_version, lapses=r.lapses,
        storage_location=r.storage_location.value if r.storage_location else pb.STORAGE_LOCATION_UNSPECIFIED,
        expires_at=ts(r.expires_at),
    )
