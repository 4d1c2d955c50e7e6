"""ConsentService over gRPC: validate, authorize the purpose, run the use case, map the result.
The operator's actions (erasure, the expiry sweep) are ConsentAdminService's, in admin_servicer.

Every call is answered inside the caller's controller (auth.current_controller(); None for an
operator of the platform): a purpose, consent, list or filing status of another controller is
answered exactly as one that does not exist."""

import os

from consentry.consent.v1 import consent_pb2 as pb
from consentry.consent.v1 import consent_pb2_grpc

from services.common import auth
from services.common.idempotent_rpc import idempotent
from services.common.timestamps import to_duration
from services.common.watch import RESET, Beat, WatchHub
from services.consent.api import mapping as m
from services.consent.api import receipt_page
from services.consent.api import validation as valid
from services.consent.domain import errors
from services.consent.service.consents import ConsentService, Granted, Published
from services.consent.service.filing import FilingWatch
from services.consent.service.gate import ConsentGate
from services.consent.service.listings import ConsentListings
from services.consent.service.receipts import ReceiptVerifier
from services.consent.service.watch import ConsentWatch, parse


def _granted_pb(g: Granted) -> pb.GrantConsentResponse:
    return pb.GrantConsentResponse(consent=m.consent_to_pb(g.consent), receipt=m.receipt_to_pb(g.receipt))


def _published_pb(p: Published) -> pb.PublishNoticeResponse:
    return pb.PublishNoticeResponse(notices=[m.notice_to_pb(n) for n in p.notices],
                                    consents_needing_renewal=p.consents_needing_renewal)


class ConsentServicer(consent_pb2_grpc.ConsentServiceServicer):
    def __init__(self, service: ConsentService, listings: ConsentListings, gate: ConsentGate, filing: FilingWatch,
                 receipt_key: tuple[str, str], watch: WatchHub) -> None:
        self._service = service
        self._watch = watch
        self._listings = listings
        self._gate = gate
        self._responses = m.CheckResponses()
        self._filing = filing
        self._receipt_key = receipt_key
        self._receipts = ReceiptVerifier(*receipt_key)

    async def RegisterPurpose(self, request, context):
        cmd = valid.register_purpose(request, auth.current_controller())
        auth.require_purpose(cmd.purpose.purpose_id)
        return await idempotent("RegisterPurpose", request, pb.RegisterPurposeResponse,
                                lambda p: pb.RegisterPurposeResponse(purpose=m.purpose_to_pb(p)),
                                lambda idem: self._service.register_purpose(cmd, idem))

    async def GetPurpose(self, request, context):
        purpose_id, within = valid.purpose(request)
        auth.require_purpose(purpose_id)
        purpose, notices = await self._service.get_purpose(purpose_id, within)
        return pb.GetPurposeResponse(purpose=m.purpose_to_pb(purpose), notices=[m.notice_to_pb(n) for n in notices])

    async def ListPurposes(self, request, context):
        controller_id, size = valid.list_purposes(request)
        purposes, token = await self._listings.purposes(controller_id, auth.current_client().purpose_scope(), size,
                                                        request.page_token)
        return pb.ListPurposesResponse(purposes=[m.purpose_to_pb(p) for p in purposes], next_page_token=token)

    async def PublishNotice(self, request, context):
        cmd = valid.publish_notice(request)
        auth.require_purpose(cmd.purpose_id)
        return await idempotent("PublishNotice", request, pb.PublishNoticeResponse, _published_pb,
                                lambda idem: self._service.publish_notice(cmd, idem))

    async def GrantConsent(self, request, context):
        cmd = valid.grant_consent(request)
        auth.require_purpose(cmd.purpose_id)
        return await idempotent("GrantConsent", request, pb.GrantConsentResponse, _granted_pb,
                                lambda idem: self._service.grant(cmd, idem))

    async def CheckConsent(self, request, context):
        subject_id, purpose_id, controller_id = valid.check(request)
        auth.require_purpose(purpose_id)
        return self._responses(await self._gate.check(subject_id, purpose_id, controller_id))

    async def CheckConsents(self, request, context):
        checks = valid.check_many(request)
        for purpose_id in {p for _, p, _ in checks}:
            auth.require_purpose(purpose_id)
        results = await self._gate.check_many(checks)
        return pb.CheckConsentsResponse(results=[self._responses(r) for r in results])

    async def WatchConsents(self, request, context):
        client, controller_id = auth.current_client(), valid.watch(request)
        if client.is_operator:  # a controller never registered is not watched as one with nothing to say
            await self._service.get_controller(controller_id, None)
        view = ConsentWatch(controller_id, client.purpose_scope(), os.urandom(32))
        interval = to_duration(self._watch.heartbeat_s)
        with self._watch.subscribe() as changes:  # before `started`: nothing after it is missed
            yield pb.WatchConsentsResponse(started=pb.WatchStarted(ref_key=view.ref_key, heartbeat_interval=interval))
            async for message in changes:
                if isinstance(message, Beat):
                    yield pb.WatchConsentsResponse(heartbeat=pb.WatchHeartbeat())
                elif message is RESET:
                    yield pb.WatchConsentsResponse(reset=pb.WatchReset())
                elif view.concerns(change := parse(message)):
                    if change.subject_id is None:
                        yield pb.WatchConsentsResponse(reset=pb.WatchReset())
                    else:
                        yield pb.WatchConsentsResponse(changed=pb.ConsentChanged(
                            subject_ref=view.reference(change.subject_id), purpose_id=change.purpose_id))

    async def WithdrawConsent(self, request, context):
        cmd = valid.withdraw_consent(request)
        auth.require_purpose(cmd.purpose_id)
        return await idempotent("WithdrawConsent", request, pb.WithdrawConsentResponse,
                                lambda c: pb.WithdrawConsentResponse(consent=m.consent_to_pb(c)),
                                lambda idem: self._service.withdraw(cmd, idem))

    async def ListConsents(self, request, context):
        subject_id, controller_id, size = valid.list_consents(request)
        consents, token = await self._listings.consents(subject_id, controller_id,
                                                        auth.current_client().purpose_scope(), size, request.page_token)
        return pb.ListConsentsResponse(consents=[m.consent_to_pb(c) for c in consents], next_page_token=token)

    async def GetConsentHistory(self, request, context):
        subject_id, purpose_id, within, size = valid.consent_history(request)
        auth.require_purpose(purpose_id)
        consent, events, token = await self._listings.history(subject_id, purpose_id, within, size, request.page_token)
        return pb.GetConsentHistoryResponse(consent=m.consent_to_pb(consent),
                                            events=[m.history_to_pb(e) for e in events], next_page_token=token)

    async def GetConsentAsOf(self, request, context):
        subject_id, purpose_id, within, moment = valid.consent_as_of(request)
        auth.require_purpose(purpose_id)
        return m.as_of_to_pb(await self._service.as_of(subject_id, purpose_id, moment, within))

    async def RecordInteraction(self, request, context):
        cmd = valid.record_interaction(request)
        auth.require_purpose(cmd.purpose_id)
        last = await self._service.record_interaction(cmd)
        return pb.RecordInteractionResponse(last_interaction_at=m.ts(last))

    async def GetFilingStatus(self, request, context):
        controller_id = valid.filing_status(request)
        status = await self._filing.status(controller_id)
        return pb.GetFilingStatusResponse(controller_id=controller_id, subjects_with_stored_face_data=status.people,
                                          threshold=status.threshold, state=status.state.value)

    async def GetReceiptKey(self, request, context):
        key_id, pem = self._receipt_key
        return pb.GetReceiptKeyResponse(key_id=key_id, public_key_pem=pem)

    async def IssueReceipt(self, request, context):
        subject_id, purpose_id, within = valid.issue_receipt(request)
        auth.require_purpose(purpose_id)
        receipt = await self._service.receipt(subject_id, purpose_id, within)
        return pb.IssueReceiptResponse(receipt=m.receipt_to_pb(receipt))

    async def GetController(self, request, context):
        controller_id = valid.identifier("controller_id", request.controller_id)
        controller = await self._service.get_controller(controller_id, auth.current_controller())
        return pb.GetControllerResponse(controller=m.controller_to_pb(controller))

    async def RenderReceipt(self, request, context):
        receipt_json, signature, key_id, language = valid.render_receipt(request)
        receipt = self._receipts.open(receipt_json, signature, key_id)  # nothing is read before this
        auth.require_purpose(receipt.content.purpose_id)
        within = auth.current_controller()
        if within is not None and all(c.controller_id != within for c in receipt.content.controllers):
            raise errors.PurposeNotFound(receipt.content.purpose_id)  # another controller's, as its purpose is
        language = receipt_page.page_language(language, receipt.content.language)
        return pb.RenderReceiptResponse(html=receipt_page.render(receipt, language), language=language)
