"""EventService.OpenEvents, served by every producer beside its own service: a consumer the policy
allows (audit, dsr) has the producer open the envelopes it sealed, while the person's event key
still exists. A controller's client opens its own controller's only: another's key is answered as
one it never had. One bad envelope spoils only its own answer, so no consumer is stuck on it."""

import asyncpg
from cryptography.exceptions import InvalidTag
from google.protobuf.message import DecodeError

from consentry.events.v1 import event_service_pb2 as pb
from consentry.events.v1 import event_service_pb2_grpc
from services.common import auth
from services.common.event_keys import keys_by_id, open_sealed
from services.common.validation import Validator

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["EventService"].full_name
MAX_ENVELOPES = 1000


class EventServicer(event_service_pb2_grpc.EventServiceServicer):
    def __init__(self, pool: asyncpg.Pool, producer_name: str) -> None:
        self._pool, self._name = pool, producer_name

    async def OpenEvents(self, request: pb.OpenEventsRequest, context) -> pb.OpenEventsResponse:
        v = Validator()
        v.count("envelopes", request.envelopes, most=MAX_ENVELOPES)
        for i, envelope in enumerate(request.envelopes):
            if envelope.producer != self._name:
                v.fail(f"envelopes[{i}].producer", "string.const", f"must be '{self._name}': a producer opens its own")
            if envelope.sealed:
                v.uuid(f"envelopes[{i}].event_key_id", envelope.event_key_id, "a sealed envelope names its key by a UUID")
        v.done()
        keys = await keys_by_id(self._pool, [e.event_key_id for e in request.envelopes if e.sealed])
        caller = auth.current_client()
        if not caller.is_operator:
            keys = {key_id: key for key_id, key in keys.items() if key.controller_id == caller.controller_id}
        return pb.OpenEventsResponse(opened=[self._open(e, keys) for e in request.envelopes])

    @staticmethod
    def _open(envelope, keys) -> pb.OpenEventsResponse.Opened:
        if not envelope.sealed:  # names nobody: nothing to open
            return pb.OpenEventsResponse.Opened()
        key = keys.get(envelope.event_key_id)
        if key is None or key.key is None:  # destroyed with the person (or never ours to know)
            return pb.OpenEventsResponse.Opened(erased=True)
        try:
            return pb.OpenEventsResponse.Opened(content=open_sealed(key, envelope.event_id, envelope.sealed))
        except (InvalidTag, DecodeError, ValueError):
            return pb.OpenEventsResponse.Opened(unreadable=True)
