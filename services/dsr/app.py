"""Wiring of the dsr service: the shared runtime (pool, migrations, outbox relay, gRPC), the
clients of consent, keyvault and audit, the orchestrator, the task dispatcher and the consumer of
task results and consent events."""

import asyncio
from datetime import timedelta

from consentry.dsr.v1 import dsr_pb2, dsr_pb2_grpc
from services.common.auth import Policy
from services.common.erasure import load_tagger
from services.common.kafka import ensure_topics
from services.common.page_tokens import PageTokens
from services.common.runtime import ServiceRuntime
from services.common.server import GrpcServer
from services.dsr.api.errors import status_for
from services.dsr.api.servicer import DsrServicer
from services.dsr.events.consumer import DsrConsumer
from services.dsr.events.processor_topics import KafkaProcessorTopics
from services.dsr.service.dispatcher import TaskDispatcher
from services.dsr.service.forgetting import Forgetting, forget_settled
from services.dsr.service.orchestrator import Orchestrator
from services.dsr.service.processors import Processors
from services.dsr.service.queries import RequestQueries
from services.dsr.service.requests import DeadlinePolicy, RequestService
from services.dsr.service.settlement import Settlement
from services.dsr.settings import DsrSettings
from services.dsr.store.upstream import Upstream

SERVICE_NAME = dsr_pb2.DESCRIPTOR.services_by_name["DsrService"].full_name


class DsrApp:
    def __init__(self, settings: DsrSettings) -> None:
        self.settings = settings
        self.runtime = ServiceRuntime("dsr", "services.dsr.store")
        self.orchestrator: Orchestrator | None = None
        self.dispatcher: TaskDispatcher | None = None

    @property
    def port(self) -> int:
        return self.runtime.port

    async def start(self) -> None:
        s, runtime = self.settings, self.runtime
        tagger = await asyncio.to_thread(load_tagger, s.erasure_key)
        pool, relay = await runtime.start_infrastructure(s.database_url, s.pool_min_size, s.pool_max_size, s.kafka,
                                                         s.topic, tagger, s.retention, {
            "settled requests": lambda p: forget_settled(p, timedelta(seconds=s.retention.finished_request_s))})
        if not (s.tls_ca and s.tls_cert and s.tls_key):
            raise ValueError("CONSENTRY_DSR_TLS_CA, _CERT and _KEY are required")
        upstream = Upstream({"consent": s.consent_address, "keyvault": s.keyvault_address, "audit": s.audit_address},
                            s.tls_ca.read_bytes(), s.tls_cert.read_bytes(), s.tls_key.read_bytes())
        runtime.on_stop(upstream.close)
        topics = KafkaProcessorTopics(s.kafka)
        forgetting = Forgetting(tagger)
        settlement = Settlement(forgetting)
        processors = Processors(pool, topics, settlement, lambda: self.dispatcher.tasks_added())
        await ensure_topics(s.kafka, [s.consent_topic])
        await topics.provide(*(p.name for p in await processors.registered()))  # a broker may have lost them
        assert runtime.producer is not None
        self.dispatcher = TaskDispatcher(pool, runtime.producer, tagger, settlement,
                                         confirm_timeout_s=s.task_confirm_timeout_s,
                                         max_attempts=s.task_max_attempts, window=s.task_window)

        def committed() -> None:
            relay.notify()
            self.dispatcher.tasks_added()
        self.orchestrator = Orchestrator(pool, upstream, settlement, committed, concurrency=s.start_concurrency,
                                         claim=timedelta(seconds=s.start_claim_s))
        requests = RequestService(pool, DeadlinePolicy(s.china_working_days, s.default_deadline_days,
                                                       s.complaint_route), committed)

        def verified() -> None:
            committed()
            self.orchestrator.verified()
        consumer = DsrConsumer(s.kafka, pool, s.consent_topic, lambda *a: _submitted(requests, verified, *a),
                               upstream.consent_event_confirmed, upstream.consent_events.open, settlement,
                               committed)
        runtime.spawn(self.orchestrator.run(), "orchestrator")
        runtime.spawn(self.dispatcher.run(), "task-dispatcher")
        runtime.spawn(consumer.run(), "dsr-consumer")
        servicer = DsrServicer(requests, RequestQueries(pool, await PageTokens.of(pool), forgetting), processors,
                               upstream.purpose_exists, verified)
        await runtime.serve(GrpcServer(
            s.grpc, Policy.for_server(s.grpc.policy_file, s.grpc.insecure_client_id), [SERVICE_NAME],
            lambda srv: dsr_pb2_grpc.add_DsrServiceServicer_to_server(servicer, srv), status_for,
            tracing=s.telemetry.trace_exporter != "none"))

    async def stop(self) -> None:
        await self.runtime.stop()


async def _submitted(requests: RequestService, verified, *args):
    """Requests opened from consent events are verified at once: start them without waiting."""
    request = await requests.submit(*args)
    verified()
    return request
