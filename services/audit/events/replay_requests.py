"""What audit tells producers on the replay topic (services/common/replay.py listens): publish again
from a missing sequence, and up to where their events are all in the log (they may prune up to there)."""

from aiokafka import AIOKafkaProducer

from consentry.events.v1 import outbox_pb2
from services.common.kafka import ensure_topics
from services.common.replay import ACKNOWLEDGEMENT, REPLAY_REQUEST
from services.common.settings import KafkaSettings


class ReplayRequests:
    def __init__(self, kafka: KafkaSettings, producer: AIOKafkaProducer) -> None:
        self._kafka, self._producer = kafka, producer

    async def ask(self, name: str, from_sequence: int) -> None:
        request = outbox_pb2.ReplayRequest(producer=name, from_sequence=from_sequence, requested_by="audit")
        await ensure_topics(self._kafka, [self._kafka.replay_topic])  # asks are rare; the broker may have lost it
        await self._producer.send_and_wait(self._kafka.replay_topic, request.SerializeToString(),
                                           headers=[("type", REPLAY_REQUEST.encode())])

    async def acknowledge(self, name: str, complete_up_to: int) -> None:
        ack = outbox_pb2.Acknowledgement(producer=name, complete_up_to=complete_up_to, acknowledged_by="audit")
        await self._producer.send_and_wait(self._kafka.replay_topic, ack.SerializeToString(),
                                           headers=[("type", ACKNOWLEDGEMENT.encode())])
