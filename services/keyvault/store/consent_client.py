"""The consent gate as keyvault sees it: ConsentService.CheckConsent over mTLS. Any failure to get
an answer is reported as unreachable, and the caller refuses (fail closed)."""

import grpc

from consentry.consent.v1 import consent_pb2 as cpb
from consentry.consent.v1 import consent_pb2_grpc
from services.keyvault.domain.errors import ConsentUnreachable
from services.keyvault.domain.model import ConsentAnswer


class ConsentClient:
    def __init__(self, address: str, ca: bytes, cert: bytes, key: bytes, timeout_s: float = 2.0) -> None:
        self._channel = grpc.aio.secure_channel(address, grpc.ssl_channel_credentials(ca, key, cert))
        self._stub = consent_pb2_grpc.ConsentServiceStub(self._channel)
        self._timeout = timeout_s

    async def check(self, subject_id: str, purpose_id: str) -> ConsentAnswer:
        try:
            answer = await self._stub.CheckConsent(
                cpb.CheckConsentRequest(subject_id=subject_id, purpose_id=purpose_id), timeout=self._timeout)
        except grpc.aio.AioRpcError:
            raise ConsentUnreachable() from None
        reason = cpb.DenyReason.Name(answer.reason).removeprefix("DENY_REASON_")
        return ConsentAnswer(answer.decision == cpb.DECISION_ALLOW, reason, answer.consent_id)

    async def close(self) -> None:
        await self._channel.close()
