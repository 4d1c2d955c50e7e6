"""DSR settings, from environment variables prefixed CONSENTRY_DSR_ (nested with "__")."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common import topics
from services.common.erasure import ErasureKeySettings
from services.common.retention import DAY_S, RetentionSettings
from services.common.settings import GrpcSettings, KafkaSettings, RuntimeSettings, TelemetrySettings


class DsrRetention(RetentionSettings):
    # A settled request's identity evidence, corrections and export are kept this long (the person
    # fetches the export, a complaint is reviewed), then forgotten; a deletion forgets at once.
    finished_request_s: float = Field(30 * DAY_S, gt=0)


class DsrSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONSENTRY_DSR_", env_nested_delimiter="__")

    database_url: str = "postgresql://postgres@127.0.0.1:5432/dsr"
    pool_min_size: int = 2
    pool_max_size: int = 16
    kafka: KafkaSettings  # required: at least its credential (see common/settings.py)
    topic: str = topics.DSR_EVENTS
    # Each processor's tasks and results have topics of their own (services/common/topics.py).
    consent_topic: str = topics.CONSENT_EVENTS
    grpc: GrpcSettings = GrpcSettings(listen="127.0.0.1:50053")
    telemetry: TelemetrySettings = TelemetrySettings()
    runtime: RuntimeSettings = RuntimeSettings()
    # What is kept only for a while (services/common/retention.py, services/dsr/service/forgetting.py).
    retention: DsrRetention = DsrRetention()
    # The key of keyed tombstones (services/common/erasure.py): names people in the event keys' table.
    erasure_key: ErasureKeySettings = ErasureKeySettings()

    # The services dsr orders and asks, over mTLS with one client certificate (identity "dsr").
    consent_address: str = "localhost:50051"
    keyvault_address: str = "localhost:50052"
    audit_address: str = "localhost:50054"
    # The people's portal, which forgets a deleted person's sign-in address and sessions; empty: no
    # portal is deployed.
    portal_address: str = ""
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None

    # A task not confirmed within this time is sent again, waiting twice as long each time.
    task_confirm_timeout_s: float = Field(30.0, gt=0)
    task_max_attempts: int = Field(8, ge=1)
    # Unconfirmed tasks out per processor; the rest wait their turn in the database.
    task_window: int = Field(512, ge=1)
    # Verified requests whose own part (consents erased, key shredded, record gathered) runs at once.
    start_concurrency: int = Field(64, ge=1)
    # A start claim lasts this long unless renewed, which its live holder does every third of it: a
    # crashed starter's requests are taken up by another replica after at most this long.
    start_claim_s: float = Field(15.0, ge=1)
    # China has no statutory figure: the regulator's practice is 15 working days.
    china_working_days: int = Field(15, ge=1)
    # Where no law sets a deadline.
    default_deadline_days: int = Field(30, ge=1)
    complaint_route: str = "the competent data protection authority"
