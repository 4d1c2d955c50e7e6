"""What every service starts the same way and stops in reverse: the database pool and its
migrations, the Kafka producer and the outbox relay, background tasks, and the gRPC server (health
NOT_SERVING and a graceful stop first, the pool last)."""

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaProducer

from consentry.events.v1 import event_service_pb2_grpc
from services.common.db import MigrationStep, apply_migrations, create_pool, migrations_in
from services.common.erasure import SubjectTagger, pin_default_controller
from services.common.event_keys import EventKeys
from services.common.event_service import SERVICE_NAME as EVENT_SERVICE
from services.common.event_service import EventServicer
from services.common.kafka import ensure_topics, start_producer
from services.common.logging import get_logger
from services.common.outbox import OutboxRelay
from services.common.replay import ReplayListener
from services.common.retention import RetentionSettings, Sweep, keep_bounded, producer_sweeps
from services.common.server import GrpcServer
from services.common.settings import KafkaSettings
from services.common.tls_files import restart_when_changed, stamp

log = get_logger(__name__)
# How long each step of a stop may take: a client library stuck on a dead connection must not keep a
# service (or its orchestrator's grace period) waiting for ever. The step is then abandoned, and said.
STOP_STEP_S = 10.0


async def _bounded(step, what: str) -> None:
    running = asyncio.ensure_future(step)
    done, _ = await asyncio.wait([running], timeout=STOP_STEP_S)  # never waits longer, cancelled or not
    if not done:
        running.cancel()
        log.warning("stop step abandoned after its time", step=what, seconds=STOP_STEP_S)


class ServiceRuntime:
    def __init__(self, name: str, migrations_package: str) -> None:
        self.name = name
        self._migrations = migrations_package
        # The package's Python migrations, by name among its SQL files; set before the start.
        self.migration_steps: dict[str, MigrationStep] = {}
        self.pool: asyncpg.Pool | None = None
        self.producer: AIOKafkaProducer | None = None
        self.relay: OutboxRelay | None = None
        self.server: GrpcServer | None = None
        self._tasks: list[asyncio.Task] = []
        self._stopping = False
        self._closers: list[Callable[[], Awaitable[None]]] = []

    async def start_infrastructure(self, database_url: str, pool_min: int, pool_max: int, kafka: KafkaSettings,
                                   topic: str, tagger: SubjectTagger, retention: RetentionSettings,
                                   sweeps: dict[str, Sweep] | None = None) -> tuple[asyncpg.Pool, OutboxRelay]:
        """`tagger`: names people in the event keys' table (the relay seals every person's events).
        `sweeps`: the service's own bounded stores, forgotten beside the outbox and idempotency."""
        pool = await self.start_database(database_url, pool_min, pool_max)
        await pin_default_controller(pool, tagger)
        await ensure_topics(kafka, [topic, kafka.replay_topic])
        self.producer = await start_producer(kafka)
        self.relay = OutboxRelay(self.pool, self.producer, EventKeys(tagger), topic=topic, producer_name=self.name,
                                 watermark_interval=kafka.watermark_interval_s)
        self.spawn(self.relay.run(), "outbox-relay")
        self.spawn(ReplayListener(kafka, self.pool, self.name, self.relay.notify).run(), "outbox-replay-listener")
        self.spawn(keep_bounded(pool, {**producer_sweeps(retention), **(sweeps or {})}, retention.interval_s),
                   "retention")
        return pool, self.relay

    async def start_database(self, database_url: str, pool_min: int, pool_max: int, *,
                             owner_url: str | None = None, with_outbox: bool = True) -> asyncpg.Pool:
        """Migrations run as `owner_url` when given, so the service's own role can hold fewer rights."""
        migrations = ((migrations_in("services.common") if with_outbox else [])
                      + migrations_in(self._migrations, self.migration_steps))
        if owner_url:
            owner = await create_pool(owner_url, 1, 1)
            try:
                await apply_migrations(owner, migrations)
            finally:
                await owner.close()
        self.pool = await create_pool(database_url, pool_min, pool_max)
        if not owner_url:
            await apply_migrations(self.pool, migrations)
        return self.pool

    def spawn(self, coroutine: Coroutine, name: str) -> None:
        task = asyncio.create_task(coroutine, name=name)
        task.add_done_callback(self._ended)
        self._tasks.append(task)

    def _ended(self, task: asyncio.Task) -> None:
        """A part of the service (a relay, a consumer, a sweep) that ended on an error or a cancellation
        other than the service's stop: the service goes on serving without it, so its log says so."""
        if self._stopping or not (task.cancelled() or task.exception()):
            return
        log.error("a background task ended: the service goes on without it and should be restarted",
                  task=task.get_name(), error="cancelled" if task.cancelled() else repr(task.exception()))

    def restart_on_new_identity(self, within_s: float, *files: Path | None) -> None:
        """The client certificates the service's channels were made with (a channel keeps what it was
        given): when they are renewed, a graceful stop within `within_s`, for a start with the new ones.
        Called before they are first read, so a renewal during the start is not missed."""
        watched = tuple(f for f in files if f is not None)
        if watched:
            self.spawn(restart_when_changed(watched, stamp(watched), within_s), "tls-client-files")

    def on_stop(self, closer: Callable[[], Awaitable[None]]) -> None:
        """Runs after the server and the tasks stopped, before Kafka and the pool close."""
        self._closers.append(closer)

    async def serve(self, server: GrpcServer) -> None:
        """A producer (it has a relay) serves EventService beside its own, to open what it sealed."""
        if self.relay is not None:
            servicer = EventServicer(self.pool, self.name)
            server.add_service(EVENT_SERVICE, lambda registrar: event_service_pb2_grpc.add_EventServiceServicer_to_server(
                servicer, registrar))
        self.server = server
        await server.start()
        log.info(f"{self.name} service started", port=server.port)

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.port

    async def stop(self) -> None:
        self._stopping = True
        if self.server:
            await self.server.stop()
        for task in self._tasks:
            task.cancel()
        await _bounded(asyncio.gather(*self._tasks, return_exceptions=True), "background tasks")
        for closer in reversed(self._closers):
            await _bounded(closer(), getattr(closer, "__qualname__", "closer"))
        if self.producer:
            await _bounded(self.producer.stop(), "kafka producer")
        if self.pool:
            await _bounded(self.pool.close(), "database pool")
            self.pool.terminate()  # whatever a stuck step still held: closed regardless
        log.info(f"{self.name} service stopped")
