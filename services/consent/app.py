"""Wiring of the consent service: pool, migrations, Kafka, outbox relay, gRPC, expiry sweep.
Started in order and stopped in reverse."""

import asyncio
from dataclasses import dataclass, field

import asyncpg
from aiokafka import AIOKafkaProducer

from consentry.consent.v1 import consent_pb2, consent_pb2_grpc
from services.common.auth import Policy
from services.common.db import apply_migrations, create_pool, migrations_in
from services.common.kafka import ensure_topics, start_producer
from services.common.logging import get_logger
from services.common.outbox import OutboxRelay
from services.common.pg_listener import ChannelListener
from services.common.server import GrpcServer
from services.consent.api.errors import status_for
from services.consent.api.servicer import ConsentServicer
from services.consent.events.payloads import to_pending
from services.consent.service.consents import ConsentService
from services.consent.service.decision_cache import CHANGE_CHANNEL, DecisionCache
from services.consent.service.expiry import run_expiry
from services.consent.service.gate import ConsentGate
from services.common.signing import Ed25519Signer
from services.consent.service.uow import UnitOfWork
from services.consent.settings import ConsentSettings

log = get_logger(__name__)
SERVICE_NAME = consent_pb2.DESCRIPTOR.services_by_name["ConsentService"].full_name


def load_policy(settings: ConsentSettings) -> Policy:
    if settings.grpc.policy_file:
        return Policy.load(settings.grpc.policy_file)
    if settings.grpc.insecure_client_id:  # dev without a policy: the one client may do everything
        return Policy.parse({"clients": {settings.grpc.insecure_client_id: {"rpcs": ["*"], "purposes": ["*"]}}})
    raise ValueError("CONSENTRY_CONSENT_GRPC__POLICY_FILE is required")


@dataclass
class ConsentApp:
    settings: ConsentSettings
    pool: asyncpg.Pool | None = None
    producer: AIOKafkaProducer | None = None
    server: GrpcServer | None = None
    gate: ConsentGate | None = None
    tasks: list[asyncio.Task] = field(default_factory=list)

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.port

    async def start(self) -> None:
        s = self.settings
        self.pool = await create_pool(s.database_url, s.pool_min_size, s.pool_max_size)
        await apply_migrations(self.pool, migrations_in("services.common") + migrations_in("services.consent.store"))
        await ensure_topics(s.kafka, [s.topic])
        self.producer = await start_producer(s.kafka)
        relay = OutboxRelay(self.pool, self.producer, topic=s.topic, producer_name="consent")
        signer = Ed25519Signer.from_file(s.receipt_signing_key) if s.receipt_signing_key else Ed25519Signer.generate()
        pool = self.pool
        cache = DecisionCache(s.decision_cache_max_entries, s.decision_cache_ttl_s)
        self.gate = gate = ConsentGate(s.database_url, cache)

        def after_commit(events: list) -> None:
            gate.forget(events)
            relay.notify()

        service = ConsentService(lambda: UnitOfWork(pool, to_pending, after_commit), signer)
        servicer = ConsentServicer(service, self.gate, (signer.key_id, signer.public_key_pem))
        self.server = GrpcServer(s.grpc, load_policy(s), [SERVICE_NAME],
                                 lambda srv: consent_pb2_grpc.add_ConsentServiceServicer_to_server(servicer, srv),
                                 status_for,
                                 tracing=s.telemetry.trace_exporter != "none")
        self.tasks = [asyncio.create_task(relay.run(), name="outbox-relay"),
                      asyncio.create_task(run_expiry(service, s.expiry_interval_s), name="expiry")]
        if s.decision_cache:
            listener = ChannelListener(s.database_url, CHANGE_CHANNEL, on_message=cache.apply_notification,
                                       on_ready=cache.enable, on_lost=cache.disable)
            self.tasks.append(asyncio.create_task(listener.run(), name="consent-change-listener"))
        await self.server.start()
        log.info("consent service started", port=self.port)

    async def stop(self) -> None:
        if self.server:
            await self.server.stop()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.producer:
            await self.producer.stop()
        if self.gate:
            await self.gate.close()
        if self.pool:
            await self.pool.close()
        log.info("consent service stopped")
