"""Tasks onto their processors' topics (services/dsr/service/dispatcher.py decides which and when)."""

import asyncio

from aiokafka import AIOKafkaProducer

from services.common.erasure import SubjectTagger
from services.common.topics import tasks_for
from services.dsr.domain.model import Request, Task
from services.dsr.events.payloads import task_notice


class KafkaTaskSender:
    def __init__(self, producer: AIOKafkaProducer, tagger: SubjectTagger) -> None:
        """`tagger`: the Kafka key is the subject's keyed tag at the request's controller, so one
        subject's tasks share a partition (and stay in order) without the message naming them."""
        self._producer, self._tagger = producer, tagger

    async def send(self, tasks: list[tuple[Task, Request]]) -> None:
        """Returns once the broker acknowledged every one."""
        deliveries = [await self._producer.send(tasks_for(task.processor), task_notice(task, r).SerializeToString(),
                                                key=self._tagger.tag(r.subject_id, r.controller_id or None).encode())
                      for task, r in tasks]
        await asyncio.gather(*deliveries)
