"""The consent gate as keyvault sees it, over mTLS. Concurrent checks are coalesced into one
CheckConsents call per round trip, so each release no longer pays a gRPC call of its own. Any
failure to get an answer is reported as unreachable, and the caller refuses (fail closed)."""

import asyncio

import grpc

from consentry.consent.v1 import consent_pb2 as cpb
from consentry.consent.v1 import consent_pb2_grpc
from services.keyvault.domain.errors import ConsentUnreachable
from services.keyvault.domain.model import ConsentAnswer


MAX_BATCH = 1000  # CheckConsents' own limit


def _answer(answer: cpb.CheckConsentResponse) -> ConsentAnswer:
    reason = cpb.DenyReason.Name(answer.reason).removeprefix("DENY_REASON_")
    return ConsentAnswer(answer.decision == cpb.DECISION_ALLOW, reason, answer.consent_id)


class ConsentClient:
    def __init__(self, address: str, ca: bytes, cert: bytes, key: bytes, timeout_s: float = 2.0) -> None:
        self._channel = grpc.aio.secure_channel(address, grpc.ssl_channel_credentials(ca, key, cert))
        self._stub = consent_pb2_grpc.ConsentServiceStub(self._channel)
        self._timeout = timeout_s
        self._pending: list[tuple[cpb.CheckConsentRequest, asyncio.Future[ConsentAnswer]]] = []
        self._flushing = False

    async def check(self, subject_id: str, purpose_id: str) -> ConsentAnswer:
        future: asyncio.Future[ConsentAnswer] = asyncio.get_running_loop().create_future()
        self._pending.append((cpb.CheckConsentRequest(subject_id=subject_id, purpose_id=purpose_id), future))
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                try:
                    answers = (await self._stub.CheckConsents(
                        cpb.CheckConsentsRequest(checks=[request for request, _ in batch]),
                        timeout=self._timeout)).results
                    if len(answers) != len(batch):
                        raise ConsentUnreachable()
                except (grpc.aio.AioRpcError, ConsentUnreachable):
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(ConsentUnreachable())
                    continue
                for (_, future), answer in zip(batch, answers, strict=True):
                    if not future.done():
                        future.set_result(_answer(answer))
        finally:
            self._flushing = False

    async def close(self) -> None:
        await self._channel.close()
