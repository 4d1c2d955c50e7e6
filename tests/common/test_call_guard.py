"""What every call goes through before its handler: the caller admitted by the policy for the RPC it
calls (an admission remembered per RPC never lets the same client into another), and the lines the
handler logs named by the RPC and the request id (the caller's x-request-id, or a new one)."""

import grpc
import pytest
import structlog
from structlog.testing import capture_logs

from services.common.auth import Policy
from services.common.error_table import error_table
from services.common.logging import configure_logging, get_logger
from services.common.server import GrpcServer
from tests.support import grpc_settings, secure_channel, write_policy

ECHO = "test.Echo"
log = get_logger(__name__)


def _echo(registrar) -> None:
    async def say(request: bytes, context) -> bytes:
        log.warning("said", words=request.decode())
        return request
    handler = grpc.unary_unary_rpc_method_handler(say, request_deserializer=bytes, response_serializer=bytes)
    registrar.add_registered_method_handlers(ECHO, {"Say": handler, "Shout": handler})


async def _call(channel: grpc.aio.Channel, rpc: str, words: bytes, request_id: str | None = None) -> bytes:
    metadata = (("x-request-id", request_id),) if request_id else None
    return await channel.unary_unary(f"/{ECHO}/{rpc}", _registered_method=True)(words, timeout=5, metadata=metadata)


@pytest.fixture
async def server(dev_ca, run_dir):
    policy = write_policy(run_dir / "guard-policy.toml", {
        "talker": {"operator": True, "rpcs": [f"{ECHO}/Say"]},
        "shouter": {"operator": True, "rpcs": [f"{ECHO}/Say", f"{ECHO}/Shout"]}})
    server = GrpcServer(grpc_settings(dev_ca, policy), Policy.load(policy), [ECHO], _echo, error_table([], "nothing"))
    await server.start()
    yield server
    await server.stop()


async def test_an_admission_is_for_one_rpc_and_one_client(dev_ca, server):
    async with secure_channel(dev_ca, server.port, "talker") as talker, \
            secure_channel(dev_ca, server.port, "shouter") as shouter, \
            secure_channel(dev_ca, server.port, "stranger") as stranger:
        said = [await _call(talker, "Say", b"hi") for _ in range(2)]
        shouted = await _call(shouter, "Shout", b"HI")  # Shout admitted once, for shouter
        with pytest.raises(grpc.aio.AioRpcError) as talker_shouts:
            await _call(talker, "Shout", b"HI")
        with pytest.raises(grpc.aio.AioRpcError) as stranger_says:
            await _call(stranger, "Say", b"hi")

    assert said == [b"hi", b"hi"] and shouted == b"HI"
    assert talker_shouts.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "may not call test.Echo/Shout" in talker_shouts.value.details()
    assert stranger_says.value.code() == grpc.StatusCode.UNAUTHENTICATED


@pytest.fixture
def service_processors():
    """What every service's logging does to a line, up to rendering it (the set-up put back after)."""
    before = structlog.get_config()
    configure_logging("guard-test", "WARNING")
    processors = structlog.get_config()["processors"][:-1]
    structlog.configure(**before)
    return processors


async def test_lines_logged_in_a_call_name_the_rpc_and_the_request(dev_ca, server, service_processors):
    async with secure_channel(dev_ca, server.port, "talker") as channel:
        with capture_logs(processors=service_processors) as lines:
            await _call(channel, "Say", b"first", request_id="req-given-1")
            await _call(channel, "Say", b"second")
            await _call(channel, "Say", b"third")

    said = {line["words"]: line for line in lines if line["event"] == "said"}
    assert said["first"]["rpc"] == "test.Echo/Say" and said["first"]["request_id"] == "req-given-1"
    made = [said[words]["request_id"] for words in ("second", "third")]
    assert all(len(r) == 16 and int(r, 16) >= 0 for r in made) and made[0] != made[1]
