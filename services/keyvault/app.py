"""Wiring of the keyvault service: pool, migrations, Vault, consent client, Kafka, outbox relay,
cache purge listener, gRPC. Started in order and stopped in reverse."""

import asyncio
from dataclasses import dataclass, field

import asyncpg
import hvac
from aiokafka import AIOKafkaProducer

from consentry.keyvault.v1 import keyvault_pb2, keyvault_pb2_grpc
from services.common.auth import Policy
from services.common.db import apply_migrations, create_pool, migrations_in
from services.common.kafka import ensure_topics, start_producer
from services.common.logging import get_logger
from services.common.outbox import OutboxRelay
from services.common.pg_listener import ChannelListener
from services.common.server import GrpcServer
from services.common.signing import Ed25519Signer
from services.keyvault.api.errors import status_for
from services.keyvault.api.servicer import KeyVaultServicer
from services.keyvault.events.payloads import to_pending
from services.keyvault.service.backends import TransitPerSubjectBackend, WrappedBackend
from services.keyvault.service.key_cache import SubjectKeyCache
from services.keyvault.service.keys import KeyService
from services.keyvault.service.release_log import ReleaseLog
from services.keyvault.settings import KeyVaultSettings
from services.keyvault.store.consent_client import ConsentClient
from services.keyvault.store.vault import TransitKek, TransitSubjectKeys

log = get_logger(__name__)
SERVICE_NAME = keyvault_pb2.DESCRIPTOR.services_by_name["KeyVaultService"].full_name
KEY_CHANNEL = "subject_key_changed"  # sent by the trigger of store migration 0001


def vault_token(s: KeyVaultSettings) -> str:
    if s.vault_auth == "token":
        return s.vault_token
    client = hvac.Client(url=s.vault_address)
    login = client.auth.kubernetes.login(role=s.vault_kubernetes_role, jwt=s.vault_kubernetes_jwt_file.read_text())
    return login["auth"]["client_token"]


@dataclass
class KeyVaultApp:
    settings: KeyVaultSettings
    pool: asyncpg.Pool | None = None
    producer: AIOKafkaProducer | None = None
    consent: ConsentClient | None = None
    server: GrpcServer | None = None
    service: KeyService | None = None
    tasks: list[asyncio.Task] = field(default_factory=list)

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.port

    async def start(self) -> None:
        s = self.settings
        self.pool = await create_pool(s.database_url, s.pool_min_size, s.pool_max_size)
        await apply_migrations(self.pool, migrations_in("services.common") + migrations_in("services.keyvault.store"))
        await ensure_topics(s.kafka, [s.topic])
        self.producer = await start_producer(s.kafka)
        relay = OutboxRelay(self.pool, self.producer, topic=s.topic, producer_name="keyvault")
        assert s.consent_tls_ca and s.consent_tls_cert and s.consent_tls_key, "consent mTLS settings are required"
        self.consent = ConsentClient(s.consent_address, s.consent_tls_ca.read_bytes(), s.consent_tls_cert.read_bytes(),
                                     s.consent_tls_key.read_bytes(), s.consent_timeout_s)
        signer = (Ed25519Signer.from_file(s.certificate_signing_key) if s.certificate_signing_key
                  else Ed25519Signer.generate())
        cache = SubjectKeyCache(s.key_cache_ttl_s)
        token = await asyncio.to_thread(vault_token, s)
        backend = (WrappedBackend(TransitKek(s.vault_address, token, s.kek_name, s.transit_mount))
                   if s.backend == "wrapped"
                   else TransitPerSubjectBackend(TransitSubjectKeys(s.vault_address, token, s.transit_mount)))
        self.service = KeyService(self.pool, backend, self.consent, cache, ReleaseLog(self.pool, relay.notify), signer,
                                  to_pending, relay.notify)
        servicer = KeyVaultServicer(self.service, (signer.key_id, signer.public_key_pem))
        policy = Policy.load(s.grpc.policy_file) if s.grpc.policy_file else Policy.parse(
            {"clients": {s.grpc.insecure_client_id: {"rpcs": ["*"], "purposes": ["*"]}}})
        self.server = GrpcServer(s.grpc, policy, [SERVICE_NAME],
                                 lambda srv: keyvault_pb2_grpc.add_KeyVaultServiceServicer_to_server(servicer, srv),
                                 status_for, tracing=s.telemetry.trace_exporter != "none")
        listener = ChannelListener(s.database_url, KEY_CHANNEL, on_message=cache.purge, on_ready=cache.enable,
                                   on_lost=cache.disable)
        self.tasks = [asyncio.create_task(relay.run(), name="outbox-relay"),
                      asyncio.create_task(listener.run(), name="key-purge-listener")]
        await self.server.start()
        log.info("keyvault service started", port=self.port)

    async def stop(self) -> None:
        if self.server:
            await self.server.stop()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.consent:
            await self.consent.close()
        if self.producer:
            await self.producer.stop()
        if self.pool:
            await self.pool.close()
        log.info("keyvault service stopped")
