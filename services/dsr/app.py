"""Wiring of the dsr service: the shared runtime (pool, migrations, outbox relay, gRPC), the
clients of consent, keyvault and audit, the orchestrator, the task dispatcher and the consumer of
task results and consent events. One server serves DsrService and the operator's DsrAdminService."""

import asyncio
from datetime import timedelta

from consentry.dsr.v1 import dsr_admin_pb2, dsr_admin_pb2_grpc, dsr_pb2, dsr_pb2_grpc
from services.common.auth import Policy
from services.common.erasure import load_tagger
from services.common.kafka import ensure_topics
from services.common.page_tokens import PageTokens
from services.common.runtime import ServiceRuntime
from services.common.server import GrpcServer
from services.common.uow import CommitHook, UnitsOfWork
from services.dsr.api.admin_servicer import DsrAdminServicer
from services.dsr.api.errors import status_for
from services.dsr.api.servicer import DsrServicer
from services.dsr.events.consumer import DsrConsumer
from services.dsr.events.payloads import to_pending
from services.dsr.events.processor_topics import KafkaProcessorTopics
from services.dsr.events.task_sender import KafkaTaskSender
from services.dsr.service.dispatcher import TaskDispatcher
from services.dsr.service.forgetting import Forgetting, forget_settled
from services.dsr.service.orchestrator import Orchestrator
from services.dsr.service.ports import DsrUnits
from services.dsr.service.processors import Processors
from services.dsr.service.queries import RequestQueries
from services.dsr.service.requests import DeadlinePolicy, RequestService
from services.dsr.service.settlement import Settlement
from services.dsr.settings import DsrSettings
from services.dsr.store.repository import DsrStore
from services.dsr.store.upstream import Upstream

SERVICE_NAME = dsr_pb2.DESCRIPTOR.services_by_name["DsrService"].full_name
ADMIN_SERVICE_NAME = dsr_admin_pb2.DESCRIPTOR.services_by_name["DsrAdminService"].full_name


def units_of_work(pool, on_commit: CommitHook | None = None, default_controller: str = "") -> DsrUnits:
    """dsr's units of work: its store, its events as outbox rows, `on_commit` after those adding events.
    `default_controller`: whose the rows from before controllers are (erasure_key.default_controller)."""
    return UnitsOfWork(pool, lambda conn: DsrStore(conn, default_controller), to_pending, on_commit)


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
        runtime.restart_on_new_identity(s.runtime.tls_restart_within_s, s.tls_ca, s.tls_cert, s.tls_key,
                                        *s.kafka.tls_files)
        tagger = await asyncio.to_thread(load_tagger, s.erasure_key)
        pool, relay = await runtime.start_infrastructure(s.database_url, s.pool_min_size, s.pool_max_size, s.kafka,
                                                         s.topic, tagger, s.retention, {
            "settled requests": lambda p: forget_settled(units_of_work(p, None, s.erasure_key.default_controller),
                                                         timedelta(seconds=s.retention.finished_request_s))})

        def committed(_events: list) -> None:
            """Events go out now, not at the relay's next poll; new tasks (or a freed place) go out too."""
            relay.notify()
            if self.dispatcher is not None:
                self.dispatcher.tasks_added()
        uow = units_of_work(pool, committed, s.erasure_key.default_controller)
        if not (s.tls_ca and s.tls_cert and s.tls_key):
            raise ValueError("CONSENTRY_DSR_TLS_CA, _CERT and _KEY are required")
        upstream = Upstream({"consent": s.consent_address, "keyvault": s.keyvault_address, "audit": s.audit_address,
                             **({"portal": s.portal_address} if s.portal_address else {})},
                            s.tls_ca.read_bytes(), s.tls_cert.read_bytes(), s.tls_key.read_bytes())
        runtime.on_stop(upstream.close)
        topics = KafkaProcessorTopics(s.kafka)
        forgetting = Forgetting(tagger)
        settlement = Settlement(forgetting)
        tokens = await PageTokens.of(pool)
        processors = Processors(uow, topics, settlement, tokens)
        await ensure_topics(s.kafka, [s.consent_topic])
        await processors.provide_topics()
        assert runtime.producer is not None
        self.dispatcher = TaskDispatcher(uow, KafkaTaskSender(runtime.producer, tagger), settlement,
                                         confirm_timeout_s=s.task_confirm_timeout_s,
                                         max_attempts=s.task_max_attempts, window=s.task_window)
        self.orchestrator = Orchestrator(uow, upstream, settlement, concurrency=s.start_concurrency,
                                         claim=timedelta(seconds=s.start_claim_s))
        requests = RequestService(uow, DeadlinePolicy(s.china_working_days, s.default_deadline_days,
                                                      s.complaint_route))
        verified = self.orchestrator.verified
        consumer = DsrConsumer(s.kafka, s.consent_topic, lambda *a: _submitted(requests, verified, *a),
                               upstream.consent_event_confirmed, upstream.consent_events.open,
                               processors.settle_results)
        runtime.spawn(self.orchestrator.run(), "orchestrator")
        runtime.spawn(self.dispatcher.run(), "task-dispatcher")
        runtime.spawn(consumer.run(), "dsr-consumer")
        servicer = DsrServicer(requests, RequestQueries(uow, tokens, forgetting), processors,
                               upstream.has_purpose, verified)
        server = GrpcServer(
            s.grpc, Policy.for_server(s.grpc.policy_file, s.grpc.insecure_client_id), [SERVICE_NAME],
            lambda srv: dsr_pb2_grpc.add_DsrServiceServicer_to_server(servicer, srv), status_for,
            tracing=s.telemetry.trace_exporter != "none")
        admin = DsrAdminServicer(processors)
        server.add_service(ADMIN_SERVICE_NAME, lambda srv: dsr_admin_pb2_grpc.add_DsrAdminServiceServicer_to_server(
            admin, srv))
        await runtime.serve(server)

    async def stop(self) -> None:
        await self.runtime.stop()


async def _submitted(requests: RequestService, verified, *args):
    """Requests opened from consent events are verified at once: start them without waiting."""
    request = await requests.submit(*args)
    verified()
    return request
