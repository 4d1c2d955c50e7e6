"""Wiring of the keyvault service: the shared runtime (pool, migrations, Kafka, outbox relay, gRPC),
then Vault, the consent client, the key backend, and the cache purge listener. One server serves
KeyVaultService and the operator's KeyVaultAdminService."""

import asyncio

from consentry.keyvault.v1 import keyvault_admin_pb2, keyvault_admin_pb2_grpc, keyvault_pb2, keyvault_pb2_grpc
from services.common.auth import Policy
from services.common.erasure import load_tagger
from services.common.pg_listener import ChannelListener
from services.common.runtime import ServiceRuntime
from services.common.server import GrpcServer
from services.common.vault_auth import VaultSession
from services.common.signing import Ed25519Signer
from services.common.uow import UnitsOfWork
from services.common.watch import WatchHub
from services.keyvault.api.admin_servicer import KeyVaultAdminServicer
from services.keyvault.api.errors import status_for
from services.keyvault.api.servicer import KeyVaultServicer
from services.keyvault.events.payloads import to_pending
from services.keyvault.service.backends import Backend, TransitPerSubjectBackend, WrappedBackend
from services.keyvault.service.generations import PurposeGenerations
from services.keyvault.service.key_cache import SubjectKeyCache
from services.keyvault.service.keys import KeyService
from services.keyvault.service.watch import WATCH_CHANNEL
from services.keyvault.settings import KeyVaultSettings
from services.keyvault.store import keyed_rows
from services.keyvault.store.consent_client import ConsentClient
from services.keyvault.store.generations import GenerationStore
from services.keyvault.store.repository import KeyStore
from services.keyvault.store.vault import ControllerKeks, TransitSubjectKeys

SERVICE_NAME = keyvault_pb2.DESCRIPTOR.services_by_name["KeyVaultService"].full_name
ADMIN_SERVICE_NAME = keyvault_admin_pb2.DESCRIPTOR.services_by_name["KeyVaultAdminService"].full_name
KEY_CHANNEL = "subject_key_changed"  # sent with the subject tag by the trigger of store migration 0006
GENERATION_CHANNEL = "purpose_generation_changed"  # sent by the trigger of store migration 0003


def key_backend(s: KeyVaultSettings, vault: VaultSession, default_controller: str) -> Backend:
    if s.backend == "wrapped":  # a KEK per controller; the default controller's is `kek_name` itself
        return WrappedBackend(ControllerKeks(vault, s.kek_name, default_controller, s.transit_mount))
    return TransitPerSubjectBackend(TransitSubjectKeys(vault, s.transit_mount))


class KeyVaultApp:
    def __init__(self, settings: KeyVaultSettings) -> None:
        self.settings = settings
        self.runtime = ServiceRuntime("keyvault", "services.keyvault.store")
        self.service: KeyService | None = None

    @property
    def port(self) -> int:
        return self.runtime.port

    async def start(self) -> None:
        s, runtime = self.settings, self.runtime
        runtime.restart_on_new_identity(s.runtime.tls_restart_within_s, s.consent_tls_ca, s.consent_tls_cert,
                                        s.consent_tls_key, *s.kafka.tls_files)
        signer = Ed25519Signer.from_file(s.certificate_signing_key)  # before anything starts: a bad key stops here
        tagger = await asyncio.to_thread(load_tagger, s.erasure_key)
        runtime.migration_steps[keyed_rows.NAME] = keyed_rows.tag_subject_keys(tagger, signer)
        pool, relay = await runtime.start_infrastructure(s.database_url, s.pool_min_size, s.pool_max_size, s.kafka,
                                                         s.topic, tagger, s.retention)
        if not (s.consent_tls_ca and s.consent_tls_cert and s.consent_tls_key):
            raise ValueError("CONSENTRY_KEYVAULT_CONSENT_TLS_CA, _CERT and _KEY are required")
        consent = ConsentClient(s.consent_address, s.consent_tls_ca.read_bytes(), s.consent_tls_cert.read_bytes(),
                                s.consent_tls_key.read_bytes(), s.consent_timeout_s)
        runtime.on_stop(consent.close)
        cache, generations = SubjectKeyCache(s.key_cache_ttl_s), SubjectKeyCache(s.key_cache_ttl_s)
        vault = s.vault_session()
        await asyncio.to_thread(vault.token)  # a login Vault refuses stops the start here
        backend = key_backend(s, vault, tagger.default_controller)
        def committed(_events: list) -> None:  # the relay sends them now, not at its next poll
            relay.notify()

        keys = UnitsOfWork(pool, lambda conn: KeyStore(conn, tagger), to_pending, committed)
        purpose_generations = PurposeGenerations(UnitsOfWork(pool, GenerationStore, to_pending, committed), tagger,
                                                 generations)
        self.service = KeyService(keys, purpose_generations, backend, consent, cache, signer, tagger)
        watch = WatchHub(s.database_url, WATCH_CHANNEL, lambda channel, beat: pool.execute(
            "SELECT pg_notify($1, $2)", channel, beat), heartbeat_s=s.watch_heartbeat_s)
        runtime.spawn(watch.run(), "key-watch")
        servicer = KeyVaultServicer(self.service, (signer.key_id, signer.public_key_pem), watch)
        runtime.spawn(ChannelListener(s.database_url, KEY_CHANNEL, on_message=cache.purge, on_ready=cache.enable,
                                      on_lost=cache.disable).run(), "key-purge-listener")
        runtime.spawn(ChannelListener(s.database_url, GENERATION_CHANNEL, on_message=generations.purge,
                                      on_ready=generations.enable, on_lost=generations.disable).run(),
                      "generation-purge-listener")
        server = GrpcServer(
            s.grpc, Policy.for_server(s.grpc.policy_file, s.grpc.insecure_client_id), [SERVICE_NAME],
            lambda srv: keyvault_pb2_grpc.add_KeyVaultServiceServicer_to_server(servicer, srv), status_for,
            tracing=s.telemetry.trace_exporter != "none")
        admin = KeyVaultAdminServicer(self.service)
        server.add_service(ADMIN_SERVICE_NAME,
                           lambda srv: keyvault_admin_pb2_grpc.add_KeyVaultAdminServiceServicer_to_server(admin, srv))
        server.before_stop(watch.close)
        await runtime.serve(server)

    async def stop(self) -> None:
        await self.runtime.stop()
