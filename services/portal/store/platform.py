"""The platform as the portal calls it: consent and dsr over mTLS, with the portal's own identity
("portal", an operator that may read purposes and a person's consents and grant and withdraw them, and
file and read the person's requests). It serves several controllers, so every call names the controller
of the portal page asking."""

import asyncio
import time
from datetime import datetime, timedelta

import grpc

from consentry.consent.v1 import consent_pb2 as pb
from consentry.consent.v1 import consent_pb2_grpc
from consentry.dsr.v1 import dsr_pb2, dsr_pb2_grpc
from consentry_client.errors import error_info
from consentry_client.pages import items
from services.portal.domain import errors
from services.portal.domain.consents import Consent, Controller, Notice, Purpose, Receipt, State, notice_in
from services.portal.domain.requests import Case, Kind, Rejection, Stage, Step
from services.portal.domain.sign_in import Person

TIMEOUT_S = 10.0
CONTROLLER_TTL_S = 60.0  # a controller's new address or contact reaches the pages within this
PAGE = 1000
_STATES = {pb.CONSENT_STATE_GIVEN: State.GIVEN, pb.CONSENT_STATE_WITHDRAWN: State.WITHDRAWN,
           pb.CONSENT_STATE_EXPIRED: State.EXPIRED, pb.CONSENT_STATE_RENEWAL_REQUIRED: State.RENEWAL_REQUIRED,
           pb.CONSENT_STATE_ERASED: State.ERASED}


async def call_platform(call):
    try:
        return await call
    except grpc.aio.AioRpcError as error:
        if error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            raise errors.PlatformUnavailable() from None
        if error.code() == grpc.StatusCode.NOT_FOUND:
            raise errors.NotFound() from None
        raise errors.Refused(error_info(error).reason or error.code().name, error.details() or "") from None


def _notice(n: pb.Notice) -> Notice:
    return Notice(n.version, n.language, n.text, n.content_hash, n.published_at.ToDatetime().astimezone())


def _purpose(p: pb.Purpose, notices: list[pb.Notice], language: str) -> Purpose:
    notice = notice_in([_notice(n) for n in notices], p.current_notice_version, language)
    return Purpose(
        p.purpose_id, p.name, p.description,
        tuple(pb.DataCategory.Name(c).removeprefix("DATA_CATEGORY_").lower() for c in p.data_categories),
        p.storage_location == pb.STORAGE_LOCATION_SERVER, timedelta(seconds=p.retention.seconds),
        p.non_face_alternative, p.withdrawal_method, notice)


def _consent(c: pb.Consent) -> Consent:
    return Consent(_STATES.get(c.state, State.NONE), c.notice_version,
                   c.granted_at.ToDatetime().astimezone() if c.HasField("granted_at") else None,
                   c.expires_at.ToDatetime().astimezone() if c.HasField("expires_at") else None)


KINDS = {dsr_pb2.REQUEST_TYPE_ACCESS: Kind.ACCESS, dsr_pb2.REQUEST_TYPE_CORRECTION: Kind.CORRECTION,
          dsr_pb2.REQUEST_TYPE_DELETION: Kind.DELETION, dsr_pb2.REQUEST_TYPE_WITHDRAWAL: Kind.WITHDRAWAL,
          dsr_pb2.REQUEST_TYPE_PORTABILITY: Kind.PORTABILITY}
_REQUEST_TYPES = {kind: number for number, kind in KINDS.items()}


def _when(t) -> datetime:
    return t.ToDatetime().astimezone()


def _case(r: dsr_pb2.Request) -> Case:
    first_note = r.timeline[0].note if r.timeline else ""
    return Case(
        r.request_id, KINDS[r.type], Stage[dsr_pb2.RequestStatus.Name(r.status).removeprefix("REQUEST_STATUS_")],
        r.purpose_id, _when(r.received_at), _when(r.due_at), first_note.removeprefix("due under "), r.extended,
        tuple(Step(_when(t.at), Stage[dsr_pb2.RequestStatus.Name(t.status).removeprefix("REQUEST_STATUS_")])
              for t in r.timeline),
        Rejection(r.rejection.code, r.rejection.explanation, r.rejection.complaint_route)
        if r.HasField("rejection") else None,
        r.deletion_certificate, r.deletion_certificate_signature, r.HasField("export_released_at"))


def _actor(guardian: tuple[str, str] | None) -> pb.Actor:
    if guardian is None:
        return pb.Actor(kind=pb.ACTOR_KIND_SUBJECT)
    guardian_id, verification_ref = guardian
    return pb.Actor(kind=pb.ACTOR_KIND_GUARDIAN, guardian_id=guardian_id, guardian_verification_ref=verification_ref)


class Platform:
    def __init__(self, consent_address: str, dsr_address: str, ca: bytes, cert: bytes, key: bytes) -> None:
        credentials = grpc.ssl_channel_credentials(ca, key, cert)
        self._channels = [grpc.aio.secure_channel(consent_address, credentials),
                          grpc.aio.secure_channel(dsr_address, credentials)]
        self._consent = consent_pb2_grpc.ConsentServiceStub(self._channels[0])
        self._dsr = dsr_pb2_grpc.DsrServiceStub(self._channels[1])
        self._controllers: dict[str, tuple[float, Controller]] = {}  # registered ones: expiry, details

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close()

    async def controller(self, controller_id: str) -> Controller:
        """The registered controller, asked of consent at most once a minute (every page shows it); an id
        consent does not know is asked again each time, and never remembered."""
        known = self._controllers.get(controller_id)
        if known and known[0] > time.monotonic():
            return known[1]
        c = (await call_platform(self._consent.GetController(
            pb.GetControllerRequest(controller_id=controller_id), timeout=TIMEOUT_S))).controller
        controller = Controller(c.controller_id, c.legal_name, c.address, c.contact)
        self._controllers[controller_id] = (time.monotonic() + CONTROLLER_TTL_S, controller)
        return controller

    async def purposes(self, controller_id: str, language: str) -> list[Purpose]:
        """Every purpose of the controller, each with its current notice (one GetPurpose each, at once)."""
        listed = [p async for p in items(self._list_purposes, pb.ListPurposesRequest(
            controller_id=controller_id, page_size=PAGE), "purposes")]
        return list(await asyncio.gather(*(self.purpose(controller_id, p.purpose_id, language) for p in listed)))

    async def purpose(self, controller_id: str, purpose_id: str, language: str) -> Purpose:
        answer = await call_platform(self._consent.GetPurpose(
            pb.GetPurposeRequest(purpose_id=purpose_id, controller_id=controller_id), timeout=TIMEOUT_S))
        return _purpose(answer.purpose, list(answer.notices), language)

    async def consents(self, person: Person) -> dict[str, Consent]:
        """The person's consents at their controller, by purpose id."""
        return {c.purpose_id: _consent(c) async for c in items(self._list_consents, pb.ListConsentsRequest(
            subject_id=person.subject_id, controller_id=person.controller_id, page_size=PAGE), "consents")}

    async def grant(self, person: Person, purpose_id: str, notice: Notice, age: int, evidence_ref: str,
                    idempotency_key: str, guardian: tuple[str, str] | None = None) -> None:
        """The person consented, in a web form, to exactly this notice; or their guardian did, for them
        (`guardian`: the guardian's subject id, and how their guardianship was verified)."""
        await call_platform(self._consent.GrantConsent(pb.GrantConsentRequest(
            subject_id=person.subject_id, controller_id=person.controller_id, purpose_id=purpose_id,
            notice_version=notice.version, notice_language=notice.language, notice_hash=notice.content_hash,
            collection_method=pb.COLLECTION_METHOD_WEB_FORM, evidence_ref=evidence_ref,
            actor=_actor(guardian), subject_age=age, jurisdiction=person.jurisdiction,
            alternative_offered=True, idempotency_key=idempotency_key), timeout=TIMEOUT_S))

    async def withdraw(self, person: Person, purpose_id: str, evidence_ref: str, idempotency_key: str,
                       guardian: tuple[str, str] | None = None) -> None:
        await call_platform(self._consent.WithdrawConsent(pb.WithdrawConsentRequest(
            subject_id=person.subject_id, controller_id=person.controller_id, purpose_id=purpose_id,
            actor=_actor(guardian), reason="withdrawn in the portal",
            collection_method=pb.COLLECTION_METHOD_WEB_FORM, evidence_ref=evidence_ref,
            idempotency_key=idempotency_key), timeout=TIMEOUT_S))

    async def receipt(self, person: Person, purpose_id: str) -> Receipt:
        """The receipt of the person's consent in force, issued again by consent."""
        r = (await call_platform(self._consent.IssueReceipt(pb.IssueReceiptRequest(
            subject_id=person.subject_id, purpose_id=purpose_id, controller_id=person.controller_id),
            timeout=TIMEOUT_S))).receipt
        return Receipt(r.receipt_json, r.signature, r.key_id)

    async def receipt_key(self) -> str:
        """The PEM of the public key that checks receipts."""
        return (await call_platform(self._consent.GetReceiptKey(pb.GetReceiptKeyRequest(), timeout=TIMEOUT_S))).public_key_pem

    async def readable(self, receipt: Receipt, language: str) -> str:
        """Consent's page of the receipt in the language (it renders only a receipt whose signature verifies)."""
        return (await call_platform(self._consent.RenderReceipt(pb.RenderReceiptRequest(
            receipt_json=receipt.receipt_json, signature=receipt.signature, key_id=receipt.key_id,
            language=language), timeout=TIMEOUT_S))).html

    async def submit(self, person: Person, kind: Kind, purpose_id: str, corrections: dict[str, str], details: str,
                     evidence: tuple[str, str], idempotency_key: str) -> Case:
        """Files the person's request; `evidence`: how the portal verified them, and its reference."""
        method, reference = evidence
        answer = await call_platform(self._dsr.SubmitRequest(dsr_pb2.SubmitRequestRequest(
            type=_REQUEST_TYPES[kind], subject_id=person.subject_id, jurisdiction=person.jurisdiction,
            evidence=dsr_pb2.IdentityEvidence(method=method, reference=reference), purpose_id=purpose_id,
            corrections=corrections, details=details, idempotency_key=idempotency_key,
            controller_id=person.controller_id), timeout=TIMEOUT_S))
        return _case(answer.request)

    async def cases(self, person: Person) -> list[Case]:
        """The person's requests at their controller (also those of a deletion that completed)."""
        return [_case(r) async for r in items(self._list_requests, dsr_pb2.ListRequestsRequest(
            subject_id=person.subject_id, controller_id=person.controller_id, page_size=500), "requests")]

    async def requests_of(self, controller_id: str) -> list[Case]:
        """Every request the controller received (for the public yearly figures; nobody is named in them)."""
        return [_case(r) async for r in items(self._list_requests, dsr_pb2.ListRequestsRequest(
            controller_id=controller_id, page_size=500), "requests")]

    async def export(self, request_id: str) -> bytes:
        """The export of a completed access or portability request, as JSON."""
        return (await call_platform(self._dsr.GetExport(dsr_pb2.GetExportRequest(request_id=request_id),
                                                timeout=TIMEOUT_S))).export_json

    def _list_requests(self, request: dsr_pb2.ListRequestsRequest):
        return call_platform(self._dsr.ListRequests(request, timeout=TIMEOUT_S))

    def _list_purposes(self, request: pb.ListPurposesRequest):
        return call_platform(self._consent.ListPurposes(request, timeout=TIMEOUT_S))

    def _list_consents(self, request: pb.ListConsentsRequest):
        return call_platform(self._consent.ListConsents(request, timeout=TIMEOUT_S))
