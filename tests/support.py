"""Helpers shared by service tests: start a service against the session's real processes and
open authenticated clients to it."""

import asyncio
import itertools
import json
import uuid
from pathlib import Path

import grpc
from aiokafka import AIOKafkaConsumer, TopicPartition

from consentry.events.v1 import envelope_pb2
from services.common import event_opener as common_opener
from consentry_dev.launchers import OpenBaoProcess, TansuProcess
from services.common.erasure import ErasureKeySettings, provision_erasure_key
from services.common.pki import DevCA
from services.common.signing import write_key
from services.common.settings import GrpcSettings, KafkaSettings

_counter = itertools.count()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def signing_key(path: Path) -> Path:
    """An Ed25519 key file, made once: every replica and restart of a service signs with the same key."""
    return path if path.exists() else write_key(path)


def erasure_key(vault: OpenBaoProcess, identity: str) -> ErasureKeySettings:
    """The erasure key in the session's OpenBao, read with a token of this service's own."""
    return ErasureKeySettings(vault_address=vault.address, vault_token=provision_erasure_key(vault.client(), identity))


# Served by every producer (consent, keyvault, dsr) to the consumers of its events.
OPEN_EVENTS = "consentry.events.v1.EventService/OpenEvents"


def write_policy(path: Path, clients: dict[str, dict[str, list[str]]]) -> Path:
    lines = []
    for name, grant in clients.items():
        lines.append(f'[clients."{name}"]')
        lines += [f"{key} = {json.dumps(value)}" for key, value in grant.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def grpc_settings(ca: DevCA, policy: Path) -> GrpcSettings:
    server = ca.issue_server()
    return GrpcSettings(listen="127.0.0.1:0", tls_cert=server.cert, tls_key=server.key,
                        tls_client_ca=ca.ca.cert, policy_file=policy, shutdown_grace_s=1.0)


def kafka_settings(broker: TansuProcess, ca: DevCA, identity: str) -> KafkaSettings:
    """A service's settings for the test broker: its own certificate, and quick watermarks."""
    return broker.client_settings(ca.issue_client(identity), idempotent_producer=False, linger_ms=1,
                                  watermark_interval_s=0.5)


def secure_channel(ca: DevCA, port: int, client_id: str | None) -> grpc.aio.Channel:
    """A client with the named certificate, or with none (server-authenticated TLS only)."""
    if client_id is None:
        creds = grpc.ssl_channel_credentials(root_certificates=ca.ca.cert.read_bytes())
    else:
        files = ca.issue_client(client_id)
        creds = grpc.ssl_channel_credentials(ca.ca.cert.read_bytes(), files.key.read_bytes(),
                                             files.cert.read_bytes())
    return grpc.aio.secure_channel(f"localhost:{port}", creds)


class EventOpener(common_opener.EventOpener):
    """Opens a producer's sealed envelopes as a client its policy allows (admin by default)."""

    def __init__(self, ca: DevCA, port: int, client_id: str = "admin") -> None:
        self._channel = secure_channel(ca, port, client_id)
        super().__init__(self._channel)

    async def close(self) -> None:
        await self._channel.close()


async def read_events(
    broker: TansuProcess, topic: str, *, until, timeout: float = 15.0,  # noqa: ASYNC109 - spans several awaits
    opener: EventOpener | None = None,
) -> list[envelope_pb2.EventEnvelope]:
    """Reads the topic from the beginning (manual assignment: no group join delay) until `until(events)`,
    each envelope opened by `opener` when given."""
    consumer = AIOKafkaConsumer(**broker.client_options(), auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    events: list[envelope_pb2.EventEnvelope] = []
    try:
        partitions = None
        async with asyncio.timeout(timeout):
            while partitions is None:
                found = await consumer._client.fetch_all_metadata()
                ids = found.partitions_for_topic(topic)
                if ids:
                    partitions = [TopicPartition(topic, p) for p in ids]
                else:
                    await asyncio.sleep(0.2)
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            while not until(events):
                batch = await consumer.getmany(timeout_ms=200)
                for records in batch.values():
                    fresh = [envelope_pb2.EventEnvelope.FromString(r.value) for r in records]
                    events += await opener.open(fresh) if opener else fresh
    finally:
        await consumer.stop()
    return events


async def topic_messages(broker: TansuProcess, topic: str, kind, wanted=lambda message: True, at_least: int = 0,
                         timeout: float = 15.0) -> list:  # noqa: ASYNC109 - spans several awaits
    """Every `kind` message on the topic that `wanted` picks, read from the beginning to the end the
    topic had when reading began, and on until `at_least` of them arrived."""
    consumer = AIOKafkaConsumer(**broker.client_options(), enable_auto_commit=False)
    await consumer.start()
    found: list = []
    try:
        await consumer.topics()
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        async with asyncio.timeout(timeout):
            while len(found) < at_least or any([await consumer.position(p) < end[p] for p in partitions]):
                for records in (await consumer.getmany(timeout_ms=100)).values():
                    found += [m for m in map(kind.FromString, (r.value for r in records)) if wanted(m)]
    finally:
        await consumer.stop()
    return found


class Clients:
    """Stubs of one service, one per client identity; every channel is closed at the end."""

    def __init__(self, ca: DevCA, port: int, stub_class) -> None:
        self._ca, self._port, self._stub_class = ca, port, stub_class
        self._channels: list[grpc.aio.Channel] = []

    def __call__(self, client_id: str | None):
        channel = secure_channel(self._ca, self._port, client_id)
        self._channels.append(channel)
        return self._stub_class(channel)

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close()
