"""Settings shared by every service; each service's settings.py composes these.

Every value comes from environment variables (see README), so any component can point at an
existing PostgreSQL, Kafka or Vault instead of the embedded ones.
"""

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator

from services.common.topics import REPLAY_REQUESTS


class KafkaSettings(BaseModel):
    bootstrap_servers: str = "127.0.0.1:9092"
    # Every client proves who it is to the broker, over TLS: "SSL" with this service's certificate
    # (the broker's mTLS), or "SASL_SSL" with a SCRAM user. "PLAINTEXT" (and "SASL_PLAINTEXT") only
    # where nothing else can reach the broker, and only when set explicitly.
    security_protocol: Literal["SSL", "SASL_SSL", "PLAINTEXT", "SASL_PLAINTEXT"] = "SSL"
    tls_ca: Path | None = None  # the CA of the broker's certificate; the system's CAs when unset
    tls_cert: Path | None = None
    tls_key: Path | None = None
    sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256"] = "SCRAM-SHA-512"
    sasl_username: str = ""
    sasl_password: SecretStr = SecretStr("")
    # Apache Kafka: true. Tansu has no InitProducerId, so the dev default is false.
    idempotent_producer: bool = False
    linger_ms: int = 5
    request_timeout_ms: int = 10_000
    client_id: str = "consentry"
    # How often an outbox relay announces the highest sequence it published (see outbox.proto).
    watermark_interval_s: float = 5.0
    # Where consumers that found a gap ask producers to publish again.
    replay_topic: str = REPLAY_REQUESTS
    # Create missing topics at start (dev, tests). Where topics are managed (Strimzi KafkaTopic
    # resources), false: the service's user needs no right to create them.
    create_topics: bool = True

    @model_validator(mode="after")
    def _credential(self) -> "KafkaSettings":
        """A client that cannot say who it is would be refused by a secured broker, or, worse, accepted
        by an open one: a missing credential is a start-up error, not a silent downgrade."""
        if self.security_protocol == "SSL" and not (self.tls_cert and self.tls_key):
            raise ValueError("kafka.tls_cert and kafka.tls_key (this service's certificate) are required with"
                             " security_protocol SSL; or use SASL_SSL with a SCRAM user")
        if self.security_protocol.startswith("SASL") and not (
                self.sasl_username and self.sasl_password.get_secret_value()):
            raise ValueError(f"kafka.sasl_username and kafka.sasl_password are required with {self.security_protocol}")
        return self

    @property
    def tls_files(self) -> tuple[Path | None, ...]:
        """The files of this client's TLS identity, as services/common/tls_files.py watches them."""
        return self.tls_ca, self.tls_cert, self.tls_key


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
    # Where the health service alone is served without TLS, for probes that cannot present a client
    # certificate (Kubernetes' native gRPC probes): e.g. "0.0.0.0:8086". Unset: on the mTLS port only.
    health_listen: str | None = None


class RuntimeSettings(BaseModel):
    event_loop: str = Field("uvloop", pattern="^(uvloop|asyncio)$")
    # A renewed client certificate restarts the service at a random moment within this (see
    # services/common/tls_files.py); well inside the ten days cert-manager renews before expiry.
    tls_restart_within_s: float = Field(6 * 3600, ge=0)


class TelemetrySettings(BaseModel):
    log_level: str = "INFO"
    trace_exporter: str = Field("none", pattern="^(none|console|otlp)$")
    trace_sample_ratio: float = Field(1.0, ge=0.0, le=1.0)
