"""Wiring of the audit service: the database (migrations as the schema owner), the checkpoint
signer in Vault, keyvault for subject references, the sequencer over Kafka and the inbox, and the
gRPC API."""

import grpc

from consentry.audit.v1 import audit_pb2, audit_pb2_grpc
from services.audit.api.errors import status_for
from services.audit.api.servicer import AuditServicer
from services.audit.events.kafka_source import KafkaSource
from services.audit.events.replay_requests import ReplayRequests
from services.audit.service.appending import Inbox
from services.audit.service.gaps import GapWatch
from services.audit.service.reader import LogReader
from services.audit.service.sequencer import Sequencer
from services.audit.service.signed_sizes import SignedSizes
from services.audit.service.tree_nodes import BYTES_PER_LEAF, TreeNodes
from services.audit.settings import AuditSettings
from services.audit.store.checkpoint_signer import VaultCheckpointSigner
from services.audit.store.keyvault_refs import KeyvaultRefs
from services.audit.store.log_store import CHECKPOINT_CHANNEL, LogStore
from services.audit.store.sequencer_session import SequencerSession
from services.common.auth import Policy
from services.common.event_opener import EventOpener
from services.common.kafka import ensure_topics, start_producer
from services.common.page_tokens import PageTokens
from services.common.pg_listener import ChannelListener
from services.common.runtime import ServiceRuntime
from services.common.server import GrpcServer
from services.common.uow import UnitsOfWork

SERVICE_NAME = audit_pb2.DESCRIPTOR.services_by_name["AuditService"].full_name


class AuditApp:
    def __init__(self, settings: AuditSettings) -> None:
        self.settings = settings
        self.runtime = ServiceRuntime("audit", "services.audit.store")
        self.sequencer: Sequencer | None = None

    @property
    def port(self) -> int:
        return self.runtime.port

    async def start(self) -> None:
        s, runtime = self.settings, self.runtime
        runtime.restart_on_new_identity(s.runtime.tls_restart_within_s, s.tls_ca, s.tls_cert, s.tls_key,
                                        *s.kafka.tls_files)
        pool = await runtime.start_database(s.database_url, s.pool_min_size, s.pool_max_size,
                                            owner_url=s.owner_database_url, with_outbox=False)
        if not (s.tls_ca and s.tls_cert and s.tls_key):
            raise ValueError("CONSENTRY_AUDIT_TLS_CA, _CERT and _KEY are required")
        credentials = grpc.ssl_channel_credentials(s.tls_ca.read_bytes(), s.tls_key.read_bytes(),
                                                   s.tls_cert.read_bytes())
        channels = {name: grpc.aio.secure_channel(address, credentials) for name, address in (
            ("keyvault", s.keyvault_address), ("consent", s.consent_address), ("dsr", s.dsr_address))}
        for channel in channels.values():
            runtime.on_stop(channel.close)
        refs = KeyvaultRefs(channels["keyvault"])
        openers = {name: EventOpener(channel) for name, channel in channels.items()}
        signer = VaultCheckpointSigner(s.vault_session(), s.checkpoint_key_name, s.transit_mount)
        await signer.load_public_key()

        await ensure_topics(s.kafka, [*s.topics, s.kafka.replay_topic])
        runtime.producer = producer = await start_producer(s.kafka)
        replays = ReplayRequests(s.kafka, producer)
        self.sequencer = Sequencer(lambda: SequencerSession.lead(s.database_url),
                                   KafkaSource(s.kafka, s.topics, openers), refs.refs, signer,
                                   GapWatch(replays.ask, s.gap_grace_s, replays.acknowledge, s.acknowledge_interval_s),
                                   batch_size=s.batch_size, default_controller=s.default_controller)
        runtime.spawn(self.sequencer.run(), "sequencer")

        uow = UnitsOfWork(pool, LogStore)  # the log has no outbox: it is where every outbox ends
        signed, nodes = SignedSizes(), TreeNodes(uow, s.proof_memory_mb * 2**20 // BYTES_PER_LEAF)

        def announced(payload: str) -> None:
            signed.announced(payload)
            nodes.announced(payload)

        runtime.spawn(ChannelListener(s.database_url, CHECKPOINT_CHANNEL, on_message=announced,
                                      on_ready=signed.listening, on_lost=signed.lost).run(), "checkpoint-listener")
        runtime.spawn(nodes.run(), "tree-nodes")
        reader = LogReader(uow, refs.ref, await PageTokens.of(pool), signer.public_key_pem, s.default_controller,
                           signed, nodes)
        policy = Policy.for_server(s.grpc.policy_file, s.grpc.insecure_client_id)
        servicer = AuditServicer(Inbox(uow), reader, (signer.key_id, signer.public_key_pem),
                                 lambda producer: (grant := policy.clients.get(producer)) and grant.controller_id)
        await runtime.serve(GrpcServer(
            s.grpc, policy, [SERVICE_NAME],
            lambda srv: audit_pb2_grpc.add_AuditServiceServicer_to_server(servicer, srv), status_for,
            tracing=s.telemetry.trace_exporter != "none"))

    async def stop(self) -> None:
        await self.runtime.stop()
