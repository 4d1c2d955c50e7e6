"""Keyvault settings, from environment variables prefixed CONSENTRY_KEYVAULT_ (nested with "__")."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common import topics
from services.common.erasure import ErasureKeySettings
from services.common.retention import RetentionSettings
from services.common.vault_auth import VaultAccess
from services.common.settings import GrpcSettings, KafkaSettings, RuntimeSettings, TelemetrySettings


class KeyVaultSettings(BaseSettings, VaultAccess):
    model_config = SettingsConfigDict(env_prefix="CONSENTRY_KEYVAULT_", env_nested_delimiter="__")

    database_url: str = "postgresql://postgres@127.0.0.1:5432/keyvault"
    pool_min_size: int = 4
    pool_max_size: int = 32
    kafka: KafkaSettings  # required: at least its credential (see common/settings.py)
    topic: str = topics.KEYVAULT_EVENTS
    grpc: GrpcSettings = GrpcSettings(listen="127.0.0.1:50052")
    telemetry: TelemetrySettings = TelemetrySettings()
    runtime: RuntimeSettings = RuntimeSettings()
    # How long published events and idempotency records are kept (services/common/retention.py).
    retention: RetentionSettings = RetentionSettings()
    # The key of keyed tombstones (services/common/erasure.py): names people in the event keys' table.
    erasure_key: ErasureKeySettings = ErasureKeySettings()

    # The consent service, called over mTLS before any key is released.
    consent_address: str = "localhost:50051"
    consent_tls_ca: Path | None = None
    consent_tls_cert: Path | None = None
    consent_tls_key: Path | None = None
    consent_timeout_s: float = 2.0

    # Vault/OpenBao transit holding the key-encryption key. The token's policy must allow only
    # encrypt and decrypt on that key (see README): never a root token.
    # How it reaches Vault and logs in: VaultAccess's fields (services/common/vault_auth.py).
    vault_kubernetes_role: str = "consentry-keyvault"
    transit_mount: str = "transit"
    # "wrapped": subject keys wrapped by one KEK, stored in PostgreSQL (default, fast releases).
    # "transit-per-subject": one transit key per subject inside Vault (every release calls Vault).
    backend: str = Field("wrapped", pattern="^(wrapped|transit-per-subject)$")
    kek_name: str = "consentry-kek"

    # Ed25519 private key (PEM) that signs deletion certificates. Required, as for consent receipts:
    # certificates must verify against the published key after any restart.
    certificate_signing_key: Path
    # How long a plaintext subject key may stay in memory; a shred purges it at once everywhere.
    key_cache_ttl_s: float = 300.0
    # How often WatchKeys streams hear a heartbeat (sent through PostgreSQL, so it proves the changes
    # before it were delivered); face systems stop answering from memory after a silence.
    watch_heartbeat_s: float = Field(0.5, gt=0, le=30)
