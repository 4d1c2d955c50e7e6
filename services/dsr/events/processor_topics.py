"""Each processor's own two topics on Kafka, made when it registers (and again at start, for a
broker that lost them): tasks for it to read, results for it to write. A broker ACL per topic keeps
every face system to its own (services/common/topics.py)."""

from services.common.kafka import ensure_topics
from services.common.settings import KafkaSettings
from services.common.topics import results_from, tasks_for


class KafkaProcessorTopics:
    def __init__(self, kafka: KafkaSettings) -> None:
        self._kafka = kafka

    async def provide(self, *processors: str) -> None:
        await ensure_topics(self._kafka, [topic for p in processors for topic in (tasks_for(p), results_from(p))])
