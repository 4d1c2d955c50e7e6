"""Subject references from keyvault (GetSubjectRefs over mTLS): the only form in which subjects
enter the log. Keys are created for subjects that have none yet; shredded subjects get none."""

import grpc

from consentry.keyvault.v1 import keyvault_pb2 as kpb
from consentry.keyvault.v1 import keyvault_pb2_grpc
from services.audit.domain.errors import KeyvaultUnavailable

MAX_BATCH = 1000  # GetSubjectRefs' own limit


class KeyvaultRefs:
    def __init__(self, channel: grpc.aio.Channel, timeout_s: float = 10.0) -> None:
        self._stub = keyvault_pb2_grpc.KeyVaultServiceStub(channel)
        self._timeout = timeout_s

    async def refs(self, subject_ids: list[str]) -> dict[str, str]:
        """subject id: reference ("" for a shredded subject)."""
        found: dict[str, str] = {}
        for start in range(0, len(subject_ids), MAX_BATCH):
            chunk = subject_ids[start:start + MAX_BATCH]
            try:
                answer = await self._stub.GetSubjectRefs(
                    kpb.GetSubjectRefsRequest(subject_ids=chunk, create_missing=True), timeout=self._timeout)
            except grpc.aio.AioRpcError:
                raise KeyvaultUnavailable() from None
            found.update({r.subject_id: r.subject_ref for r in answer.refs})
        return found

    async def ref(self, subject_id: str) -> str:
        """For queries: never creates a key (a subject without one has no entries)."""
        try:
            answer = await self._stub.GetSubjectRefs(kpb.GetSubjectRefsRequest(subject_ids=[subject_id]),
                                                     timeout=self._timeout)
        except grpc.aio.AioRpcError:
            raise KeyvaultUnavailable() from None
        return answer.refs[0].subject_ref if answer.refs else ""
