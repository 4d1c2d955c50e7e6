"""The consent service as its own OS process, configured only by environment variables, stops
cleanly on SIGTERM (health NOT_SERVING, server stop, Kafka and pool closed)."""

import asyncio
import signal

import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.cli.dev import ServiceProcess, Stack, consent_env
from services.common.devstack import free_port
from tests.consent.fixtures import CLIENTS
from tests.support import secure_channel, write_policy

pytestmark = pytest.mark.slow


async def test_service_process_serves_then_stops_gracefully_on_sigterm(tmp_path, postgres, kafka, vault, dev_ca):
    port = free_port()
    stack = Stack(tmp_path, postgres, kafka, vault, dev_ca, write_policy(tmp_path / "policy.toml", CLIENTS))
    env = consent_env(stack, port)
    env["CONSENTRY_CONSENT_DATABASE_URL"] = stack.database("consent_process", "consent_process")
    env["CONSENTRY_CONSENT_TOPIC"] = "consent-process.events"  # its own sequence: kept off the audited topic
    service = ServiceProcess(tmp_path / "consent", "services.consent", env, port)
    await asyncio.to_thread(service.start)
    try:
        channel = secure_channel(dev_ca, port, "admin")
        health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        await channel.close()
        service._proc.send_signal(signal.SIGTERM)
        exit_code = await asyncio.to_thread(service._proc.wait, 20)
    finally:
        service.stop()

    log = service.log_path.read_text()
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    assert exit_code == 0
    assert '"event": "consent service stopped"' in log
    assert '"level": "info"' in log and '"service": "consent"' in log  # structured JSON lines
