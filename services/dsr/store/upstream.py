"""The other services as dsr calls them over mTLS (identity "dsr"): consent erases and lists,
keyvault shreds, retires a purpose's keys and reports key status, audit lists the subject's entries,
the portal (where one is deployed) forgets a deleted person. Every call that changes
something is idempotent by the request id, so a retry after a crash repeats nothing; every list is read
to its last page. dsr is an operator there: every call about a subject names the request's controller
(the same person at two controllers is two subjects), and every call about a purpose its controller
(two controllers may use one purpose id)."""

import json

import grpc
from google.protobuf import json_format

from consentry.audit.v1 import audit_pb2, audit_pb2_grpc
from consentry.consent.v1 import consent_admin_pb2, consent_admin_pb2_grpc, consent_pb2, consent_pb2_grpc
from consentry.keyvault.v1 import keyvault_admin_pb2, keyvault_admin_pb2_grpc, keyvault_pb2, keyvault_pb2_grpc
from consentry.portal.v1 import portal_admin_pb2, portal_admin_pb2_grpc
from consentry_client.pages import items, pages, whole
from services.common.event_opener import EventOpener
from services.dsr.domain.errors import UpstreamRefused, UpstreamUnavailable

TIMEOUT_S = 10.0
# An export holds every audit entry of the person, read a page at a time; one with more than
# MOST_AUDIT_ENTRIES is refused (the request waits, saying why) rather than cut short.
AUDIT_PAGE = 1000
MOST_AUDIT_ENTRIES = 100_000
# A subject's consents and each one's history, likewise: the largest page consent gives.
CONSENT_PAGE = 1000
# The consent events dsr acts on, as the consent history names them.
HISTORY_KINDS = {"consent.withdrawn": consent_pb2.CONSENT_EVENT_TYPE_WITHDRAWN,
                 "consent.expired": consent_pb2.CONSENT_EVENT_TYPE_EXPIRED}


class Upstream:
    def __init__(self, addresses: dict[str, str], ca: bytes, cert: bytes, key: bytes) -> None:
        creds = grpc.ssl_channel_credentials(ca, key, cert)
        self._channels = {name: grpc.aio.secure_channel(address, creds) for name, address in addresses.items()}
        self._consent = consent_pb2_grpc.ConsentServiceStub(self._channels["consent"])
        self._keyvault = keyvault_pb2_grpc.KeyVaultServiceStub(self._channels["keyvault"])
        # Erasure and shredding are operator actions, on the admin services beside the two above.
        self._consent_admin = consent_admin_pb2_grpc.ConsentAdminServiceStub(self._channels["consent"])
        self._keyvault_admin = keyvault_admin_pb2_grpc.KeyVaultAdminServiceStub(self._channels["keyvault"])
        self._audit = audit_pb2_grpc.AuditServiceStub(self._channels["audit"])
        self.consent_events = EventOpener(self._channels["consent"], TIMEOUT_S)
        self._portal_admin = (portal_admin_pb2_grpc.PortalAdminServiceStub(self._channels["portal"])
                              if "portal" in self._channels else None)

    async def erase_consents(self, controller_id: str, subject_id: str, request_id: str) -> int:
        answer = await _call("consent", self._consent_admin.EraseSubject(consent_admin_pb2.EraseSubjectRequest(
            subject_id=subject_id, request_id=request_id, idempotency_key=f"dsr-{request_id}",
            controller_id=controller_id), timeout=TIMEOUT_S))
        return answer.consents_erased

    async def has_purpose(self, controller_id: str, purpose_id: str) -> bool:
        """Whether the controller has a purpose of this id (another controller's of that id is none of its)."""
        try:
            await _call("consent", self._consent.GetPurpose(
                consent_pb2.GetPurposeRequest(purpose_id=purpose_id, controller_id=controller_id), timeout=TIMEOUT_S))
        except UpstreamRefused as refused:
            if refused.code == "NOT_FOUND":
                return False
            raise
        return True

    async def consent_event_confirmed(self, controller_id: str, subject_id: str, purpose_id: str, event_id: str,
                                      event_type: str) -> str | None:
        """The controller the consent is with, if the consent service's history holds this event, of
        this type, for this consent (None otherwise): the source of truth confirms a withdrawal or
        expiry, and whose subject it concerns, before anything is deleted because of it.
        `controller_id`: the one the event names; empty for an event from before controllers, whose
        purpose id then finds its controller (if one controller alone uses it)."""
        kind = HISTORY_KINDS.get(event_type)
        if kind is None:
            return None
        try:
            async for page in pages(self._consent_history, consent_pb2.GetConsentHistoryRequest(
                    subject_id=subject_id, purpose_id=purpose_id, controller_id=controller_id,
                    page_size=CONSENT_PAGE)):
                if any(e.event_id == event_id and e.event_type == kind for e in page.events):
                    return page.consent.controller_id
        except UpstreamRefused as refused:
            if refused.code in ("NOT_FOUND", "INVALID_ARGUMENT", "FAILED_PRECONDITION"):
                return None  # no such consent (or not even an id), or a purpose id several controllers use
            raise
        return None

    def _consent_history(self, request: consent_pb2.GetConsentHistoryRequest):
        return _call("consent", self._consent.GetConsentHistory(request, timeout=TIMEOUT_S))

    def _consents(self, request: consent_pb2.ListConsentsRequest):
        return _call("consent", self._consent.ListConsents(request, timeout=TIMEOUT_S))

    def _audit_events(self, request: audit_pb2.QueryEventsRequest):
        return _call("audit", self._audit.QueryEvents(request, timeout=TIMEOUT_S))

    async def shred_key(self, controller_id: str, subject_id: str, request_id: str) -> tuple[bytes, bytes]:
        """The deletion certificate (canonical JSON) and its signature."""
        answer = await _call("keyvault", self._keyvault_admin.ShredSubjectKey(keyvault_admin_pb2.ShredSubjectKeyRequest(
            subject_id=subject_id, request_id=request_id, reason="data-subject erasure request",
            idempotency_key=f"dsr-{request_id}", controller_id=controller_id), timeout=TIMEOUT_S))
        return answer.certificate.certificate_json, answer.certificate.signature

    async def forget_in_portal(self, controller_id: str, subject_id: str) -> None:
        """The person's sign-in address and sessions at the portal go (idempotent; nothing without a portal)."""
        if self._portal_admin is not None:
            await _call("portal", self._portal_admin.ForgetSubject(portal_admin_pb2.ForgetSubjectRequest(
                subject_id=subject_id, controller_id=controller_id), timeout=TIMEOUT_S))

    async def retire_purpose_keys(self, controller_id: str, subject_id: str, purpose_id: str, request_id: str) -> int:
        """Keyvault destroys the purpose's key generation once consent confirms the consent ended."""
        answer = await _call("keyvault", self._keyvault.RetirePurposeKeys(keyvault_pb2.RetirePurposeKeysRequest(
            subject_id=subject_id, purpose_id=purpose_id, idempotency_key=f"dsr-{request_id}",
            controller_id=controller_id), timeout=TIMEOUT_S))
        return answer.retired_generation

    async def subject_record(self, controller_id: str, subject_id: str) -> dict:
        """What Consentry itself holds on the subject at the controller: consents (each of a purpose of
        the controller) with their history, key status, and every audit entry (all pages, of one signed
        tree: the page tokens carry its size)."""
        consents = [c async for c in items(self._consents, consent_pb2.ListConsentsRequest(
            subject_id=subject_id, page_size=CONSENT_PAGE, controller_id=controller_id), "consents")]
        history = [json_format.MessageToDict(await whole(self._consent_history, consent_pb2.GetConsentHistoryRequest(
            subject_id=subject_id, purpose_id=c.purpose_id, controller_id=controller_id, page_size=CONSENT_PAGE),
            "events")) for c in consents]
        key = await _call("keyvault", self._keyvault.GetKeyStatus(
            keyvault_pb2.GetKeyStatusRequest(subject_id=subject_id, controller_id=controller_id), timeout=TIMEOUT_S))
        entries = []
        async for page in pages(self._audit_events, audit_pb2.QueryEventsRequest(
                filter=audit_pb2.EventFilter(subject_id=subject_id, controller_id=controller_id),
                page_size=AUDIT_PAGE)):
            entries += [json.loads(e.entry_json) for e in page.entries]
            if len(entries) > MOST_AUDIT_ENTRIES:
                raise UpstreamRefused("audit", "RESOURCE_EXHAUSTED", f"the subject has more than {MOST_AUDIT_ENTRIES}"
                                      " audit entries, more than one export holds; none was exported")
        return {
            "consents": [json_format.MessageToDict(c) for c in consents],
            "consentHistory": history,
            "keyStatus": json_format.MessageToDict(key),
            "auditEntries": entries,
        }

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()


async def _call(service: str, call):
    try:
        return await call
    except grpc.aio.AioRpcError as error:
        if error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            raise UpstreamUnavailable(service) from None
        raise UpstreamRefused(service, error.code().name, error.details() or "") from None
