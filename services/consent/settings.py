"""Consent service settings, from environment variables prefixed CONSENTRY_CONSENT_
(nested with "__", e.g. CONSENTRY_CONSENT_KAFKA__BOOTSTRAP_SERVERS)."""

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.settings import GrpcSettings, KafkaSettings, RuntimeSettings, TelemetrySettings


class ConsentSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONSENTRY_CONSENT_", env_nested_delimiter="__")

    database_url: str = "postgresql://postgres@127.0.0.1:5432/consent"
    pool_min_size: int = 4
    pool_max_size: int = 32
    kafka: KafkaSettings = KafkaSettings()
    topic: str = "consent.events"
    grpc: GrpcSettings = GrpcSettings()
    telemetry: TelemetrySettings = TelemetrySettings()
    runtime: RuntimeSettings = RuntimeSettings()
    # Ed25519 PEM that signs consent receipts; generated at start when unset (dev only).
    receipt_signing_key: Path | None = None
    expiry_interval_s: float = 60.0
    # Answers CheckConsent from memory while PostgreSQL change notifications keep it exact; a replica
    # sees another replica's change after the notification's delivery (milliseconds).
    decision_cache: bool = True
    decision_cache_max_entries: int = 500_000
    decision_cache_ttl_s: float = 300.0
