"""The consent gate as keyvault sees it, over mTLS. Concurrent checks are coalesced into one
CheckConsents call per round trip, so each release no longer pays a gRPC call of its own. Any
failure to get an answer is reported as unreachable, and the caller refuses (fail closed)."""

from datetime import UTC

import grpc

from consentry.consent.v1 import consent_pb2 as cpb
from consentry.consent.v1 import consent_pb2_grpc
from services.common.batching import MicroBatcher
from services.keyvault.domain.errors import ConsentUnreachable
from services.keyvault.domain.model import ConsentAnswer


MAX_BATCH = 1000  # CheckConsents' own limit


def _answer(answer: cpb.CheckConsentResponse) -> ConsentAnswer:
    reason = cpb.DenyReason.Name(answer.reason).removeprefix("DENY_REASON_")
    where = cpb.StorageLocation.Name(answer.storage_location).removeprefix("STORAGE_LOCATION_")
    expires_at = answer.expires_at.ToDatetime(tzinfo=UTC) if answer.HasField("expires_at") else None
    return ConsentAnswer(answer.decision == cpb.DECISION_ALLOW, reason, answer.consent_id, answer.lapses, where,
                         expires_at)


class ConsentClient:
    def __init__(self, address: str, ca: bytes, cert: bytes, key: bytes, timeout_s: float = 2.0) -> None:
        self._channel = grpc.aio.secure_channel(address, grpc.ssl_channel_credentials(ca, key, cert))
        self._stub = consent_pb2_grpc.ConsentServiceStub(self._channel)
        self._timeout = timeout_s
        self._checks = MicroBatcher(self._check_many, MAX_BATCH)

    async def check(self, controller_id: str, subject_id: str, purpose_id: str) -> ConsentAnswer:
        """Asked as an operator naming the subject's controller: the purpose must be that controller's,
        so a client of one controller never gets a key released under another's purpose."""
        return await self._checks.submit(cpb.CheckConsentRequest(subject_id=subject_id, purpose_id=purpose_id,
                                                                 controller_id=controller_id))

    async def _check_many(self, checks: list[cpb.CheckConsentRequest]) -> list[ConsentAnswer]:
        try:
            answers = (await self._stub.CheckConsents(cpb.CheckConsentsRequest(checks=checks),
                                                       timeout=self._timeout)).results
        except grpc.aio.AioRpcError:
            raise ConsentUnreachable() from None
        if len(answers) != len(checks):
            raise ConsentUnreachable()
        return [_answer(answer) for answer in answers]

    async def registered(self, controller_id: str) -> bool:
        """Whether consent knows the controller (its registry is the platform's)."""
        try:
            await self._stub.GetController(cpb.GetControllerRequest(controller_id=controller_id), timeout=self._timeout)
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.NOT_FOUND:
                return False
            raise ConsentUnreachable() from None
        return True

    async def close(self) -> None:
        await self._channel.close()
