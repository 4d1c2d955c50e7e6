"""Settings shared by every service; each service's settings.py composes these.

Every value comes from environment variables (see README), so any component can point at an
existing PostgreSQL, Kafka or Vault instead of the embedded ones.
"""

from pathlib import Path

from pydantic import BaseModel, Field


class KafkaSettings(BaseModel):
    bootstrap_servers: str = "127.0.0.1:9092"
    # Apache Kafka: true. Tansu has no InitProducerId, so the dev default is false.
    idempotent_producer: bool = False
    linger_ms: int = 5
    request_timeout_ms: int = 10_000
    client_id: str = "consentry"
    # How often an outbox relay announces the highest sequence it published (see outbox.proto).
    watermark_interval_s: float = 5.0
    # Where consumers that found a gap ask producers to publish again.
    replay_topic: str = "outbox.replay-requests"


class GrpcSettings(BaseModel):
    listen: str = "127.0.0.1:50051"
    # mTLS: the server's certificate and key, and the CA that signs client certificates.
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None
    # TOML file mapping client identities (certificate CN) to allowed RPCs and purposes.
    policy_file: Path | None = None
    # Dev only: no TLS; every caller is treated as the client named here. Never in production.
    insecure_client_id: str | None = None
    shutdown_grace_s: float = 5.0
    max_concurrent_rpcs: int | None = None


class RuntimeSettings(BaseModel):
    event_loop: str = Field("uvloop", pattern="^(uvloop|asyncio)$")


class TelemetrySettings(BaseModel):
    log_level: str = "INFO"
    trace_exporter: str = Field("none", pattern="^(none|console|otlp)$")
    trace_sample_ratio: float = Field(1.0, ge=0.0, le=1.0)
