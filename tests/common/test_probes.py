"""Kubernetes' native gRPC probes cannot present a client certificate: with `health_listen` set, the
health service alone is also served in plain text on a port of its own; nothing else is reachable
there, and the service's port still requires mTLS."""

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from services.common.auth import Policy
from services.common.error_table import error_table
from services.common.server import GrpcServer
from tests.support import grpc_settings, secure_channel, write_policy

ECHO = "test.Echo"


def _echo(registrar) -> None:
    """A service of the server's own, answering its caller's bytes."""
    async def say(request: bytes, context) -> bytes:
        return request
    registrar.add_registered_method_handlers(ECHO, {"Say": grpc.unary_unary_rpc_method_handler(
        say, request_deserializer=bytes, response_serializer=bytes)})


async def _say(channel: grpc.aio.Channel) -> bytes:
    return await channel.unary_unary(f"/{ECHO}/Say", _registered_method=True)(b"hello", timeout=5)


async def _health(port: int, service: str = "") -> int:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        answer = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service),
                                                                 timeout=5)
        return answer.status


async def test_probes_reach_health_alone_in_plain_text(dev_ca, run_dir):
    policy = write_policy(run_dir / "probes-policy.toml", {"caller": {"operator": True, "rpcs": [f"{ECHO}/Say"]}})
    settings = grpc_settings(dev_ca, policy).model_copy(update={"health_listen": "127.0.0.1:0"})
    server = GrpcServer(settings, Policy.load(settings.policy_file), [ECHO], _echo, error_table([], "nothing"))
    await server.start()
    try:
        serving = await _health(server.health_port)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.health_port}") as channel:
            with pytest.raises(grpc.aio.AioRpcError) as service_on_probes:
                await _say(channel)
        async with secure_channel(dev_ca, server.port, "caller") as channel:
            said = await _say(channel)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.health_port}") as channel:
            with pytest.raises(grpc.aio.AioRpcError) as reflection:
                async for _ in reflection_pb2_grpc.ServerReflectionStub(channel).ServerReflectionInfo(
                        iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5):
                    pass
        with pytest.raises(grpc.aio.AioRpcError) as plain_to_service_port:
            await _health(server.port)
    finally:
        await server.stop()

    assert server.health_port not in (0, server.port)
    assert serving == health_pb2.HealthCheckResponse.SERVING
    assert said == b"hello" and service_on_probes.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert reflection.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert plain_to_service_port.value.code() == grpc.StatusCode.UNAVAILABLE
