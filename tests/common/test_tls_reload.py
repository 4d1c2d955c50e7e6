"""Renewed certificates reach a running service: the gRPC server takes new files at the next
handshake (a key that does not match its certificate is not taken), and a service whose client
certificate was renewed asks for its own graceful restart."""

import asyncio
import shutil

import grpc
import pytest

from services.common.auth import Policy
from services.common.error_table import error_table
from services.common.pki import DevCA
from services.common.server import GrpcServer
from services.common.tls_files import restart_when_changed, stamp
from tests.common.test_probes import ECHO, _echo, _say
from tests.support import grpc_settings, secure_channel, write_policy


def _install(live, ca: DevCA, key=None, cert=None) -> None:
    """As a Secret's files are replaced: each file swapped whole, never written in place."""
    served = ca.issue_server()
    for source, name in ((ca.ca.cert, "ca.crt"), (key or served.key, "tls.key"), (cert or served.cert, "tls.crt")):
        shutil.copy(source, live / f"{name}.new")
        (live / f"{name}.new").replace(live / name)


async def _answers(ca: DevCA, port: int) -> bool:
    try:
        async with secure_channel(ca, port, "caller") as channel:
            return await _say(channel) == b"hello"
    except grpc.aio.AioRpcError as error:
        assert error.code() == grpc.StatusCode.UNAVAILABLE, error
        return False


async def test_a_running_server_takes_renewed_files_at_the_next_handshake(tmp_path):
    old, new, other = DevCA(tmp_path / "old"), DevCA(tmp_path / "new"), DevCA(tmp_path / "other")
    live = tmp_path / "live"
    live.mkdir()
    _install(live, old)
    policy = write_policy(tmp_path / "policy.toml", {"caller": {"operator": True, "rpcs": [f"{ECHO}/Say"]}})
    settings = grpc_settings(old, policy).model_copy(update={
        "tls_cert": live / "tls.crt", "tls_key": live / "tls.key", "tls_client_ca": live / "ca.crt"})
    server = GrpcServer(settings, Policy.load(policy), [ECHO], _echo, error_table([], "nothing"))
    await server.start()
    try:
        before = (await _answers(old, server.port), await _answers(new, server.port))
        _install(live, new)
        after = (await _answers(old, server.port), await _answers(new, server.port))
        # Files caught mid-copy: another CA's key beside this certificate. The last good pair serves on.
        _install(live, new, key=other.issue_server().key)
        mismatched = await _answers(new, server.port)
    finally:
        await server.stop()

    assert before == (True, False)
    assert after == (False, True)  # no restart: the new CA and certificate, and the old no longer
    assert mismatched


async def test_a_renewed_client_certificate_asks_for_a_restart(tmp_path):
    files = DevCA(tmp_path / "ca").issue_client("keyvault")
    asked = asyncio.Event()
    watched = (files.cert, files.key)
    watch = asyncio.create_task(restart_when_changed(watched, stamp(watched), 0.0, asked.set, poll_s=0.05))
    try:
        await asyncio.sleep(0.3)
        unchanged = asked.is_set()
        DevCA(tmp_path / "renewed").issue_client("keyvault").cert.replace(files.cert)
        await asyncio.wait_for(asked.wait(), 5)
    finally:
        watch.cancel()

    assert not unchanged and asked.is_set()


async def test_a_renewal_during_the_start_is_not_missed(tmp_path):
    """The stamp is taken before the files are read: a renewal before the watch first looks counts."""
    files = DevCA(tmp_path / "ca").issue_client("dsr")
    watched, asked = (files.cert, files.key), asyncio.Event()
    before = stamp(watched)
    DevCA(tmp_path / "renewed").issue_client("dsr").key.replace(files.key)
    watch = asyncio.create_task(restart_when_changed(watched, before, 0.0, asked.set, poll_s=0.05))
    try:
        await asyncio.wait_for(asked.wait(), 5)
    finally:
        watch.cancel()


@pytest.mark.parametrize("files", [(), ("missing",)])
async def test_a_watch_without_files_or_with_missing_ones_never_restarts(tmp_path, files):
    asked = asyncio.Event()
    watched = tuple(tmp_path / f for f in files)
    watch = asyncio.create_task(restart_when_changed(watched, stamp(watched), 0.0, asked.set, poll_s=0.05))
    await asyncio.sleep(0.3)
    watch.cancel()

    assert not asked.is_set()
