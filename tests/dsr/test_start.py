"""Starting a verified request is claimed: a second starter (another replica, or the same request
queued twice) gets nothing, and once Consentry has begun its own part (erasure, which cannot be
undone) the request can no longer be rejected, even while a failed step waits to be tried again."""

from datetime import UTC, datetime, timedelta

import pytest

from services.common.idempotency import IdempotencyKey, IdempotencyScope
from services.dsr.app import units_of_work
from services.dsr.domain import errors
from services.dsr.domain.model import Rejection, RequestType, Status
from services.dsr.service.requests import DeadlinePolicy, RequestService, Submission
from services.dsr.store.repository import DsrStore
from tests.consent.builders import CONTROLLER
from tests.support import unique

OPERATOR = None  # the scope an operator reads and changes requests in: every controller's
pytestmark = pytest.mark.parametrize("backend", ["wrapped"], indirect=True, scope="session")
REJECTION = Rejection("manifestly-unfounded", "the fifth identical request this week", "the DPA")


def once(method: str) -> IdempotencyKey:
    key = unique("idem")
    return IdempotencyKey.of(IdempotencyScope("operator", method, key), key.encode())


async def verified_request(requests: RequestService) -> str:
    r = await requests.submit(Submission(RequestType.DELETION, unique("subj"), "DE", "id-check", "desk-7",
                                         controller_id=CONTROLLER),
                              once("SubmitRequest"))
    await requests.verify_identity(r.request_id, True, "", once("VerifyIdentity"), OPERATOR)
    return r.request_id


async def test_a_claimed_request_is_not_claimed_twice_nor_listed_as_waiting(dsr_pool, backend):
    requests = RequestService(units_of_work(dsr_pool), DeadlinePolicy())
    request_id = await verified_request(requests)
    now = datetime.now(UTC)

    async with dsr_pool.acquire() as conn:
        store = DsrStore(conn)
        waiting_before = await store.verified(now, 10)
        first = await store.claim_start(request_id, now, now + timedelta(minutes=5))
        second = await store.claim_start(request_id, now, now + timedelta(minutes=5))
        waiting_after = await store.verified(now, 10)
        after_it_ran_out = await store.claim_start(request_id, now + timedelta(minutes=6),
                                                   now + timedelta(minutes=11))

    assert waiting_before == [request_id] and waiting_after == []
    assert first is not None and first.status is Status.VERIFIED and second is None
    assert after_it_ran_out is not None  # a crashed starter does not hold the request for ever


async def test_a_begun_request_cannot_be_rejected_even_while_its_claim_has_run_out(dsr_pool, backend):
    requests = RequestService(units_of_work(dsr_pool), DeadlinePolicy())
    untouched, begun = await verified_request(requests), await verified_request(requests)
    now = datetime.now(UTC)
    async with dsr_pool.acquire() as conn:
        await DsrStore(conn).claim_start(begun, now, now + timedelta(minutes=5))
        await DsrStore(conn).end_claim(begun, now)  # as after a failed step, before the retry

    rejected = await requests.reject(untouched, REJECTION, once("RejectRequest"), OPERATOR)
    with pytest.raises(errors.RejectionRefused, match="begun carrying it out"):
        await requests.reject(begun, REJECTION, once("RejectRequest"), OPERATOR)

    assert rejected.status is Status.REJECTED
    assert (await requests.get(begun, OPERATOR)).status is Status.VERIFIED
