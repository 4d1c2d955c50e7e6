"""dsr killed with SIGKILL in the middle of carrying out verified deletions delays them by seconds,
not minutes: a live starter renews its claims, a dead one's run out after the claim's time, and the
next dsr takes them up. The dsr runs as its own OS process (so it can be killed), on a broker of its
own; consent, keyvault and audit are the session's."""

import asyncio
import time

import asyncpg
import pytest

from consentry.dsr.v1 import dsr_pb2_grpc
from consentry_dev.stack import ServiceProcess, Stack, dsr_env
from consentry_dev.launchers import TansuProcess, broker_tls, free_port
from tests.dsr.fixtures import DSR_CLIENTS
from tests.dsr.test_requests import submission, verify
from tests.support import secure_channel, unique, write_policy

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("backend", ["wrapped"], indirect=True, scope="session")]
CLAIM_S = 3
REQUESTS = 200
VERIFIED, COMPLETED = 3, 5


async def completed(db: asyncpg.Connection, count: int, *, timeout: float, poll: float,  # noqa: ASYNC109
                    while_claimed: bool = False) -> None:
    """Until `count` requests completed; `while_claimed`: and others are claimed by a starter right now
    (the moment to kill it, so that it leaves claims behind)."""
    async with asyncio.timeout(timeout):
        while True:
            done = await db.fetchval("SELECT count(*) FROM requests WHERE status = $1", COMPLETED)
            claimed = await db.fetchval(
                "SELECT count(*) FROM requests WHERE status = $1 AND starting_until > now()", VERIFIED)
            if done >= count and (claimed or not while_claimed):
                return
            await asyncio.sleep(poll)


async def test_a_killed_dsr_delays_the_requests_it_was_starting_by_its_claim_only(
        tmp_path, postgres, vault, dev_ca, consent_app, keyvault_app, audit_app, backend):
    database = unique("dsr").replace("-", "_")
    with TansuProcess(tmp_path / "kafka", tls=broker_tls(dev_ca)).start() as broker:
        stack = Stack(tmp_path, postgres, broker, vault, dev_ca, write_policy(tmp_path / "policy.toml", DSR_CLIENTS))
        port = free_port()
        env = {**dsr_env(stack, port, {"consent": consent_app.port, "keyvault": keyvault_app.port,
                                       "audit": audit_app.port}, database=database),
               "CONSENTRY_DSR_START_CLAIM_S": str(CLAIM_S)}
        db = await asyncpg.connect(postgres.dsn(database))
        first = ServiceProcess(tmp_path / "first", "services.dsr", env, port).start()
        try:
            channel = secure_channel(dev_ca, port, "operator")
            operator = dsr_pb2_grpc.DsrServiceStub(channel)
            submitted = [(await operator.SubmitRequest(submission(unique("subj")))).request
                         for _ in range(REQUESTS)]
            lanes = asyncio.Semaphore(64)

            async def verified(request_id: str) -> None:
                async with lanes:
                    await operator.VerifyIdentity(verify(request_id))
            verifying = asyncio.gather(*(verified(r.request_id) for r in submitted))
            await completed(db, 20, timeout=60, poll=0.01, while_claimed=True)  # kill it well under way
            first.kill()
            claimed_by_the_dead = await db.fetchval(
                "SELECT count(*) FROM requests WHERE status = $1 AND starting_until > now()", VERIFIED)
            await asyncio.gather(verifying, return_exceptions=True)
            await channel.close()
            unverified = [r.request_id for r in submitted if await db.fetchval(
                "SELECT status FROM requests WHERE request_id = $1", r.request_id) < VERIFIED]

            second = ServiceProcess(tmp_path / "second", "services.dsr", env, port).start()
            restarted = time.monotonic()
            try:
                channel = secure_channel(dev_ca, port, "operator")
                for request_id in unverified:  # verifications the killed process never received
                    await dsr_pb2_grpc.DsrServiceStub(channel).VerifyIdentity(verify(request_id))
                await channel.close()
                await completed(db, REQUESTS, timeout=120, poll=0.2)
                took = time.monotonic() - restarted
            finally:
                second.stop()
        finally:
            first.stop()
            await db.close()

    assert claimed_by_the_dead > 0  # the crash did leave requests claimed by a starter that is gone
    # Before claims were renewed they lasted 5 minutes: those requests waited for all of it.
    assert took < CLAIM_S + 15, took
