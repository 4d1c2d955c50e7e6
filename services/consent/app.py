"""Wiring of the consent service: the shared runtime (pool, migrations, Kafka, outbox relay, gRPC),
then the gate with its decision cache, the use cases and the expiry sweep. One server serves
ConsentService and the operator's ConsentAdminService."""

import asyncio

from consentry.consent.v1 import consent_admin_pb2, consent_admin_pb2_grpc, consent_pb2, consent_pb2_grpc
from services.common.auth import Policy
from services.common.erasure import load_tagger
from services.common.page_tokens import PageTokens
from services.common.pg_listener import ChannelListener
from services.common.runtime import ServiceRuntime
from services.common.server import GrpcServer
from services.common.signing import Ed25519Signer
from services.common.uow import UnitsOfWork
from services.common.watch import WatchHub
from services.consent.api.admin_servicer import ConsentAdminServicer
from services.consent.api.errors import status_for
from services.consent.api.servicer import ConsentServicer
from services.consent.domain.filing import FilingRule
from services.consent.domain.jurisdiction import GuardianAges
from services.consent.events.payloads import to_pending
from services.consent.service.consents import ConsentService
from services.consent.service.decision_cache import CHANGE_CHANNEL, DecisionCache
from services.consent.service.expiry import run_expiry
from services.consent.service.filing import FilingWatch, run_filing_watch
from services.consent.service.gate import ConsentGate
from services.consent.service.listings import ConsentListings
from services.consent.service.watch import WATCH_CHANNEL
from services.consent.settings import ConsentSettings
from services.consent.store.repository import ConsentStore
from services.consent.store.snapshot_reader import SnapshotReader

SERVICE_NAME = consent_pb2.DESCRIPTOR.services_by_name["ConsentService"].full_name
ADMIN_SERVICE_NAME = consent_admin_pb2.DESCRIPTOR.services_by_name["ConsentAdminService"].full_name


class ConsentApp:
    def __init__(self, settings: ConsentSettings) -> None:
        self.settings = settings
        self.runtime = ServiceRuntime("consent", "services.consent.store")
        self.gate: ConsentGate | None = None
        self.filing: FilingWatch | None = None

    @property
    def port(self) -> int:
        return self.runtime.port

    @property
    def pool(self):
        return self.runtime.pool

    async def start(self) -> None:
        s, runtime = self.settings, self.runtime
        runtime.restart_on_new_identity(s.runtime.tls_restart_within_s, *s.kafka.tls_files)
        signer = Ed25519Signer.from_file(s.receipt_signing_key)  # before anything starts: a bad key stops here
        guardian_ages = GuardianAges(s.guardian_ages)
        tagger = await asyncio.to_thread(load_tagger, s.erasure_key)
        pool, relay = await runtime.start_infrastructure(s.database_url, s.pool_min_size, s.pool_max_size, s.kafka,
                                                         s.topic, tagger, s.retention)
        cache = DecisionCache(s.decision_cache_max_entries, s.decision_cache_ttl_s)
        self.gate = gate = ConsentGate(SnapshotReader(s.database_url), cache, tagger)
        runtime.on_stop(gate.close)

        def after_commit(events: list) -> None:
            gate.forget(events)
            relay.notify()

        uow = UnitsOfWork(pool, ConsentStore, to_pending, after_commit)
        service = ConsentService(uow, signer, tagger, guardian_ages=guardian_ages)
        self.filing = filing = FilingWatch(uow, FilingRule(s.filing_threshold, s.filing_warning_share))
        listings = ConsentListings(uow, await PageTokens.of(pool))
        watch = WatchHub(s.database_url, WATCH_CHANNEL, lambda channel, beat: pool.execute(
            "SELECT pg_notify($1, $2)", channel, beat), heartbeat_s=s.watch_heartbeat_s)
        runtime.spawn(watch.run(), "consent-watch")
        servicer = ConsentServicer(service, listings, gate, filing, (signer.key_id, signer.public_key_pem), watch)
        runtime.spawn(run_expiry(service, s.expiry_interval_s), "expiry")
        runtime.spawn(run_filing_watch(filing, s.filing_check_interval_s, s.filing_count_check_interval_s),
                      "filing-watch")
        if s.decision_cache:
            listener = ChannelListener(s.database_url, CHANGE_CHANNEL, on_message=cache.apply_notification,
                                       on_ready=cache.enable, on_lost=cache.disable)
            runtime.spawn(listener.run(), "consent-change-listener")
        server = GrpcServer(
            s.grpc, Policy.for_server(s.grpc.policy_file, s.grpc.insecure_client_id), [SERVICE_NAME],
            lambda srv: consent_pb2_grpc.add_ConsentServiceServicer_to_server(servicer, srv), status_for,
            tracing=s.telemetry.trace_exporter != "none")
        admin = ConsentAdminServicer(service)
        server.add_service(ADMIN_SERVICE_NAME,
                           lambda srv: consent_admin_pb2_grpc.add_ConsentAdminServiceServicer_to_server(admin, srv))
        server.before_stop(watch.close)
        await runtime.serve(server)

    async def stop(self) -> None:
        await self.runtime.stop()
