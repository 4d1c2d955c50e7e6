"""Subject references from keyvault (GetSubjectRefs over mTLS): the only form in which subjects
enter the log. A subject is a subject of one controller, and its reference is that controller's
(the same person at two controllers has two), so every call names the controller. Keys are created
for subjects that have none yet; shredded subjects get none."""

import grpc

from consentry.keyvault.v1 import keyvault_pb2 as kpb
from consentry.keyvault.v1 import keyvault_pb2_grpc
from consentry_client import error_info
from services.audit.domain.errors import KeyvaultUnavailable
from services.common.logging import get_logger

log = get_logger(__name__)

MAX_BATCH = 1000  # GetSubjectRefs' own limit
# Keyvault's answer about the request itself (a controller it does not know, an id it refuses): asking
# again gives the same answer, so those subjects get no reference rather than stopping the log.
FINAL = (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT)
# A controller whose KEK no operator has provisioned yet has no keys, so its subjects no references:
# waiting for the operator would stop every controller's log, so its entries go in without one
# (warned: the operator's setup step comes before the controller's purposes go live).
UNREFERENCED = ("KEK_NOT_PROVISIONED",)


class KeyvaultRefs:
    def __init__(self, channel: grpc.aio.Channel, timeout_s: float = 10.0) -> None:
        self._stub = keyvault_pb2_grpc.KeyVaultServiceStub(channel)
        self._timeout = timeout_s

    async def refs(self, controller_id: str, subject_ids: list[str]) -> dict[str, str]:
        """subject id: its reference at the controller ("" for a shredded subject)."""
        found: dict[str, str] = {}
        for start in range(0, len(subject_ids), MAX_BATCH):
            chunk = subject_ids[start:start + MAX_BATCH]
            try:
                answer = await self._stub.GetSubjectRefs(
                    kpb.GetSubjectRefsRequest(subject_ids=chunk, create_missing=True, controller_id=controller_id),
                    timeout=self._timeout)
            except grpc.aio.AioRpcError as error:
                if error.code() not in FINAL and error_info(error).reason not in UNREFERENCED:
                    raise KeyvaultUnavailable() from None
                log.warning("no subject references for a controller", controller_id=controller_id,
                            subjects=len(chunk), code=error.code().name, detail=error.details())
                continue
            found.update({r.subject_id: r.subject_ref for r in answer.refs})
        return found

    async def ref(self, controller_id: str, subject_id: str) -> str:
        """For queries: never creates a key (a subject without one has no entries); "" also for a
        controller keyvault does not know."""
        try:
            answer = await self._stub.GetSubjectRefs(
                kpb.GetSubjectRefsRequest(subject_ids=[subject_id], controller_id=controller_id), timeout=self._timeout)
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.NOT_FOUND:
                return ""
            raise KeyvaultUnavailable() from None
        return answer.refs[0].subject_ref if answer.refs else ""
