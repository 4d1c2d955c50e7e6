"""Audit settings, from environment variables prefixed CONSENTRY_AUDIT_ (nested with "__")."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common import topics
from services.common.vault_auth import VaultAccess
from services.common.settings import GrpcSettings, KafkaSettings, RuntimeSettings, TelemetrySettings


class AuditSettings(BaseSettings, VaultAccess):
    model_config = SettingsConfigDict(env_prefix="CONSENTRY_AUDIT_", env_nested_delimiter="__")

    # The service's own role: it may read and insert the log, never change it (see provision.py).
    database_url: str = "postgresql://consentry_audit@127.0.0.1:5432/audit"
    # The schema owner, used only to run migrations at start.
    owner_database_url: str = "postgresql://consentry_audit_owner@127.0.0.1:5432/audit"
    pool_min_size: int = 2
    # At least 3: a VerifyLog reads on three connections at once (service/verification.py).
    pool_max_size: int = Field(16, ge=3)
    kafka: KafkaSettings  # required: at least its credential (see common/settings.py)
    # Every producer's events topic.
    topics: list[str] = [topics.CONSENT_EVENTS, topics.KEYVAULT_EVENTS, topics.DSR_EVENTS]
    grpc: GrpcSettings = GrpcSettings(listen="127.0.0.1:50054")
    telemetry: TelemetrySettings = TelemetrySettings()
    runtime: RuntimeSettings = RuntimeSettings()

    # Audit's own client certificate (mTLS) for keyvault (subject references) and for every producer
    # (EventService.OpenEvents opens the events they sealed).
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    keyvault_address: str = "localhost:50052"
    consent_address: str = "localhost:50051"
    dsr_address: str = "localhost:50053"

    # The controller whose subjects were subjects before controllers: the same id as the other services'
    # erasure_key.default_controller. Entries from before controllers (and events whose producer names
    # no controller, about a subject) are its; "" for a deployment that began with controllers.
    default_controller: str = ""

    # Vault/OpenBao transit holding the Ed25519 checkpoint key (token: sign and read only).
    # How it reaches Vault and logs in: VaultAccess's fields (services/common/vault_auth.py).
    vault_kubernetes_role: str = "consentry-audit"
    transit_mount: str = "transit"
    checkpoint_key_name: str = "consentry-audit-checkpoints"

    # Up to this many events per batch, hence per signed checkpoint.
    batch_size: int = Field(5000, ge=1, le=50_000)
    # How long a hole in a producer's sequence may last before the producer is asked to re-publish.
    gap_grace_s: float = Field(10.0, gt=0)
    # How often each producer is told up to where its events are all in the log (it prunes its outbox
    # up to there once its retention has passed).
    acknowledge_interval_s: float = Field(30.0, gt=0)
    # Memory for the tree's nodes, so that a proof needs no database round trip (service/tree_nodes.py):
    # 64 bytes per entry, so 256 MB holds those of a log of 4,194,304 entries; a larger log is not
    # held, and its proofs read the database. 0: every proof reads it.
    proof_memory_mb: int = Field(256, ge=0, le=65_536)
