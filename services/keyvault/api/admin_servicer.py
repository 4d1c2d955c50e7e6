"""KeyVaultAdminService over gRPC: the operator's actions on keys (shredding, KEK rotation, offboarding
a controller), on the same use cases as KeyVaultService. A service of its own, so that only a policy
naming it reaches them (see auth): face systems are granted KeyVaultService, never these."""

from consentry.keyvault.v1 import keyvault_admin_pb2 as pb
from consentry.keyvault.v1 import keyvault_admin_pb2_grpc
from consentry.keyvault.v1 import keyvault_pb2

from services.common.idempotent_rpc import idempotent
from services.keyvault.api import stored_answers as stored
from services.keyvault.api import validation as valid
from services.keyvault.domain.model import Certificate
from services.keyvault.service.keys import KeyService


def _certificate(c: Certificate) -> keyvault_pb2.DeletionCertificate:
    return keyvault_pb2.DeletionCertificate(certificate_json=c.certificate_json, signature=c.signature,
                                            key_id=c.key_id)


class KeyVaultAdminServicer(keyvault_admin_pb2_grpc.KeyVaultAdminServiceServicer):
    def __init__(self, service: KeyService) -> None:
        self._service = service

    # Answers are stored under the method's name alone, so retries made before it moved here still replay.
    async def ShredSubjectKey(self, request, context):
        controller_id = valid.shred(request.controller_id, request.subject_id, request.request_id, request.reason,
                                    request.idempotency_key)
        return await idempotent("ShredSubjectKey", request, pb.ShredSubjectKeyResponse,
                                lambda c: pb.ShredSubjectKeyResponse(certificate=_certificate(c)),
                                lambda idem: self._service.shred_once(controller_id, request.subject_id,
                                                                      request.request_id, request.reason, idem),
                                stored.SHREDDED)

    async def RotateKek(self, request, context):
        controller_id = valid.rotation(request.controller_id, request.idempotency_key)
        return await idempotent("RotateKek", request, pb.RotateKekResponse,
                                lambda r: pb.RotateKekResponse(kek_version=r[0], keys_rewrapped=r[1],
                                                               min_available_version=r[2]),
                                lambda idem: self._service.rotate_kek_once(controller_id, request.trim, idem),
                                stored.ROTATED)

    async def GetKekStatus(self, request, context):
        controller_id = valid.kek_status(request.controller_id)
        return pb.GetKekStatusResponse(versions=[pb.KeysUnderKekVersion(kek_version=v, live_keys=n)
                                                 for v, n in await self._service.kek_status(controller_id)])

    async def OffboardController(self, request, context):
        controller_id = valid.offboarding(request.controller_id, request.reason, request.idempotency_key)
        return await idempotent("OffboardController", request, pb.OffboardControllerResponse,
                                lambda r: pb.OffboardControllerResponse(certificate=_certificate(r[0]),
                                                                        subject_keys_destroyed=r[1]),
                                lambda idem: self._service.offboard_once(controller_id, request.reason, idem))
