"""The consumer's side of EventService: has a producer open the envelopes it sealed. Each comes back
with its subject and payload as the producer wrote them, or names nobody (the person was erased,
or the envelope was not sealed by that producer)."""

import grpc

from consentry.events.v1 import envelope_pb2, event_service_pb2, event_service_pb2_grpc
from services.common.event_service import MAX_ENVELOPES


class EventOpener:
    def __init__(self, channel: grpc.aio.Channel, timeout_s: float = 10.0) -> None:
        self._stub = event_service_pb2_grpc.EventServiceStub(channel)
        self._timeout = timeout_s

    async def open(self, envelopes: list[envelope_pb2.EventEnvelope]) -> list[envelope_pb2.EventEnvelope]:
        """The same envelopes, the sealed ones opened in place (grpc.aio.AioRpcError when the producer
        cannot answer: the caller reads them again later)."""
        sealed = [e for e in envelopes if e.sealed]
        for start in range(0, len(sealed), MAX_ENVELOPES):
            chunk = sealed[start:start + MAX_ENVELOPES]
            answer = await self._stub.OpenEvents(event_service_pb2.OpenEventsRequest(envelopes=chunk),
                                                 timeout=self._timeout)
            for envelope, opened in zip(chunk, answer.opened, strict=True):
                if opened.HasField("content"):
                    envelope.subject_id = opened.content.subject_id
                    envelope.payload.CopyFrom(opened.content.payload)
        return envelopes
