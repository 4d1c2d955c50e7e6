"""ConsentAdminService over gRPC: the operator's actions on consent, on the same use cases as
ConsentService. A service of its own, so that only a policy naming it reaches them (see auth)."""

from consentry.consent.v1 import consent_admin_pb2 as pb
from consentry.consent.v1 import consent_admin_pb2_grpc

from services.common.idempotent_rpc import idempotent
from services.consent.api import mapping as m
from services.consent.api import validation as valid
from services.consent.service.consents import ConsentService, Erased


def _erased_pb(e: Erased) -> pb.EraseSubjectResponse:
    return pb.EraseSubjectResponse(consents_erased=e.consents_erased, erased_at=m.ts(e.erased_at))


class ConsentAdminServicer(consent_admin_pb2_grpc.ConsentAdminServiceServicer):
    def __init__(self, service: ConsentService) -> None:
        self._service = service

    async def EraseSubject(self, request, context):
        cmd = valid.erase_subject(request)
        # Stored under the method's name alone, so retries made before it moved here still replay.
        return await idempotent("EraseSubject", request, pb.EraseSubjectResponse, _erased_pb,
                                lambda idem: self._service.erase_subject(cmd, idem))

    async def RegisterController(self, request, context):
        cmd = valid.register_controller(request)
        return await idempotent("RegisterController", request, pb.RegisterControllerResponse,
                                lambda c: pb.RegisterControllerResponse(controller=m.controller_to_pb(c)),
                                lambda idem: self._service.register_controller(cmd, idem))

    async def ExpireConsents(self, request, context):
        return pb.ExpireConsentsResponse(consents_expired=await self._service.expire_due(valid.expire(request)))
