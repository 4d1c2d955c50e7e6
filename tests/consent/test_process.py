"""The consent service as its own OS process, configured only by environment variables, stops
cleanly on SIGTERM (health NOT_SERVING, server stop, Kafka and pool closed)."""

import asyncio
import signal

import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from consentry_dev.stack import ServiceProcess, Stack, consent_env
from consentry_dev.launchers import free_port
from tests.consent.fixtures import CLIENTS
from tests.support import secure_channel, write_policy

pytestmark = pytest.mark.slow


async def test_service_process_serves_then_stops_gracefully_on_sigterm(tmp_path, postgres, kafka, vault, dev_ca):
    port = free_port()
    stack = Stack(tmp_path, postgres, kafka, vault, dev_ca, write_policy(tmp_path / "policy.toml", CLIENTS))
    env = consent_env(stack, port, database="consent_process")
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


@pytest.mark.parametrize("problem", ["missing", "not a key"])
async def test_without_its_receipt_signing_key_the_service_refuses_to_start_and_says_why(
        tmp_path, postgres, kafka, vault, dev_ca, problem):
    """A key made up at start would leave every receipt signed before a restart unverifiable."""
    port = free_port()
    stack = Stack(tmp_path, postgres, kafka, vault, dev_ca, write_policy(tmp_path / "policy.toml", CLIENTS))
    env = consent_env(stack, port, database="consent_keyless")
    if problem == "missing":
        del env["CONSENTRY_CONSENT_RECEIPT_SIGNING_KEY"]
    else:
        (tmp_path / "not-a-key.pem").write_text("hello")
        env["CONSENTRY_CONSENT_RECEIPT_SIGNING_KEY"] = str(tmp_path / "not-a-key.pem")
    service = ServiceProcess(tmp_path / "consent", "services.consent", env, port)

    with pytest.raises(RuntimeError, match="exited with code 1"):
        await asyncio.to_thread(service.start, 20)

    log = service.log_path.read_text()
    assert "Traceback" not in log
    assert ("CONSENTRY_CONSENT_RECEIPT_SIGNING_KEY: Field required" in log if problem == "missing"
            else "signing key" in log and "not-a-key.pem" in log)
