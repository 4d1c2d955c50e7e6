"""The face gate's settings, from environment variables prefixed FACE_GATE_."""

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class FaceGateSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FACE_GATE_")

    name: str = "face-gate"
    database_url: str = "postgresql://postgres@127.0.0.1:5432/face_gate"
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_idempotent_producer: bool = False
    # The CA of the broker's certificate, when not the one of the gRPC services (tls_ca). The gate
    # proves who it is to the broker with its own certificate, as it does to the services.
    kafka_tls_ca: Path | None = None
    consent_address: str = "localhost:50051"
    keyvault_address: str = "localhost:50052"
    dsr_address: str = "localhost:50053"
    tls_ca: Path = Path("ca.crt")
    # Its identity: the certificate's common name is its processor name (`name` must match it).
    tls_cert: Path = Path("face-gate.crt")
    tls_key: Path = Path("face-gate.key")
    # The purposes whose data this gate holds (it receives withdrawal tasks for these only). Each must
    # have storage location SERVER: the gate keeps templates on its own server, and keyvault releases
    # no key for a DEVICE purpose (Measures Art. 8).
    purposes: list[str] = ["demo-gate-access"]
    # Enrolled at start when their consent allows it (a demo of the whole flow).
    demo_subjects: list[str] = []
    # How often the gate forgets the handled tasks dsr has settled (their results may hold an export).
    journal_check_s: float = 60.0
