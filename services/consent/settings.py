"""Consent service settings, from environment variables prefixed CONSENTRY_CONSENT_
(nested with "__", e.g. CONSENTRY_CONSENT_KAFKA__BOOTSTRAP_SERVERS)."""

from pathlib import Path

from pydantic import field_validator
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common import topics
from services.common.erasure import ErasureKeySettings
from services.common.retention import RetentionSettings
from services.common.settings import GrpcSettings, KafkaSettings, RuntimeSettings, TelemetrySettings
from services.consent.domain.jurisdiction import GuardianAges
from services.consent.domain.filing import FILING_THRESHOLD, FILING_WARNING_SHARE


class ConsentSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONSENTRY_CONSENT_", env_nested_delimiter="__")

    database_url: str = "postgresql://postgres@127.0.0.1:5432/consent"
    pool_min_size: int = 4
    pool_max_size: int = 32
    kafka: KafkaSettings  # required: at least its credential (see common/settings.py)
    topic: str = topics.CONSENT_EVENTS
    grpc: GrpcSettings = GrpcSettings()
    telemetry: TelemetrySettings = TelemetrySettings()
    runtime: RuntimeSettings = RuntimeSettings()
    # How long published events and idempotency records are kept (services/common/retention.py).
    retention: RetentionSettings = RetentionSettings()
    # Ed25519 private key (PEM) that signs consent receipts. Required: a key made up at start would
    # leave every earlier receipt unverifiable after a restart.
    receipt_signing_key: Path
    # The key of the keyed tombstones that refuse an erased person's re-consent (see common/erasure.py).
    erasure_key: ErasureKeySettings = ErasureKeySettings()
    # The age below which a guardian consents, for countries whose law the service does not know
    # (JSON, e.g. {"KR": 14}); unconfigured, they take 16. Where the law sets one, it cannot be configured.
    guardian_ages: dict[str, int] = {}
    expiry_interval_s: float = 60.0
    # Filing with the provincial CAC (Face Recognition Measures Art. 15): the number of people whose
    # face data a controller stores on servers that makes filing due, the share of it that warns, and
    # how often the counts are taken (each crossing is announced once on the topic).
    filing_threshold: int = Field(FILING_THRESHOLD, ge=1)
    filing_warning_share: float = Field(FILING_WARNING_SHARE, gt=0, le=1)
    filing_check_interval_s: float = Field(300.0, gt=0)
    # How often the kept count is compared with one taken from every consent (a scan of them all).
    filing_count_check_interval_s: float = Field(86400.0, gt=0)
    # Answers CheckConsent from memory while PostgreSQL change notifications keep it exact; a replica
    # sees another replica's change after the notification's delivery (milliseconds).
    decision_cache: bool = True
    decision_cache_max_entries: int = 500_000
    decision_cache_ttl_s: float = 300.0
    # How often WatchConsents streams hear a heartbeat (sent through PostgreSQL, so it proves the
    # changes before it were delivered); face systems stop answering from memory after a silence.
    watch_heartbeat_s: float = Field(0.5, gt=0, le=30)

    @field_validator("guardian_ages")
    @classmethod
    def _guardian_ages_are_allowed(cls, ages: dict[str, int]) -> dict[str, int]:
        GuardianAges(ages)  # raises ValueError saying what is wrong
        return ages
