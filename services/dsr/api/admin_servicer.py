"""DsrAdminService over gRPC: the operator's action on the processor registry, on the same use case
as DsrService. A service of its own, so that only a policy naming it reaches it (see auth): face
systems register and confirm tasks on DsrService, and must never deregister one another."""

from consentry.dsr.v1 import dsr_admin_pb2 as pb
from consentry.dsr.v1 import dsr_admin_pb2_grpc

from services.common.idempotent_rpc import idempotent
from services.dsr.api import validation as valid
from services.dsr.api.servicer import processor_to_pb
from services.dsr.api.stored_answers import DEREGISTERED
from services.dsr.service.processors import Processors


class DsrAdminServicer(dsr_admin_pb2_grpc.DsrAdminServiceServicer):
    def __init__(self, processors: Processors) -> None:
        self._processors = processors

    async def DeregisterProcessor(self, request, context):
        valid.deregister_processor(request)
        # Stored under the method's name alone, so retries made before it moved here still replay.
        return await idempotent("DeregisterProcessor", request, pb.DeregisterProcessorResponse,
                                lambda answer: pb.DeregisterProcessorResponse(processor=processor_to_pb(answer[0]),
                                                                              tasks_failed=answer[1]),
                                lambda idem: self._processors.deregister(request.name, request.reason, idem),
                                DEREGISTERED)
