"""A DPO's listing against its definition: every filter, paged a few at a time, gives exactly the
requests the filter admits, overdue first (Request.overdue), then the rest, each by due date and id,
whichever index serves the page (store/listing.py)."""

import os
import random
from datetime import UTC, datetime, timedelta

import pytest

from services.common.erasure import SubjectTagger
from services.common.page_tokens import PageTokens
from services.common.runtime import ServiceRuntime
from services.dsr.app import units_of_work
from services.dsr.domain.model import ERASED, RequestType, Status
from services.dsr.service.forgetting import Forgetting
from services.dsr.service.queries import RequestFilter, RequestQueries
from tests.support import unique

pytestmark = pytest.mark.parametrize("backend", ["wrapped"], indirect=True, scope="session")

DEFAULT = "campus"  # whose the rows without a controller are
PROCESSORS = ("door-a", "door-b")
SUBJECTS = ("ana", "bo", "cy", f"{ERASED}0f0f")


async def _store_varied_requests(pool, now: datetime, count: int) -> None:
    """Requests in every state the listing tells apart: open and settled, past and before their deadlines
    (none within an hour of now, so none changes bucket while the test pages), with and without a
    receipt to acknowledge, exports held and released, rows from before controllers, tasks."""
    rng = random.Random(20261207)
    rows, tasks = [], []
    for i in range(count):
        status = rng.choice(list(Status))
        due = now + timedelta(hours=rng.choice((-1, 1)) * rng.uniform(1, 24 * 40))
        ack_due = rng.choice((None, now - timedelta(days=rng.uniform(0.1, 5)), now + timedelta(days=rng.uniform(0.1, 5))))
        rows.append((f"req-{i:03d}", rng.choice(list(RequestType)).value, rng.choice(SUBJECTS), rng.choice(("CN", "DE", "US-CA")),
                     status.value, now - timedelta(days=50), due, ack_due,
                     rng.choice((None, now - timedelta(days=1))), rng.choice((None, DEFAULT, "other")),
                     rng.choice((None, None, now - timedelta(days=2)))))
        tasks += [(f"task-{i:03d}-{p}", f"req-{i:03d}", p) for p in PROCESSORS if rng.random() < 0.4]
    async with pool.acquire() as conn:
        await conn.executemany(
            "INSERT INTO requests (request_id, type, subject_id, jurisdiction, status, received_at, due_at,"
            " acknowledgement_due_at, acknowledged_at, controller_id, export_released_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)", rows)
        await conn.executemany("INSERT INTO tasks (task_id, request_id, processor, action, state)"
                               " VALUES ($1, $2, $3, 'delete', 'CONFIRMED')", tasks)


async def _pages(queries: RequestQueries, where: RequestFilter, size: int) -> list[str]:
    found, token, pages = [], "", 0
    while True:
        page, token = await queries.find(where, size, token)
        found += [r.request_id for r in page]
        pages += 1
        assert pages < 1000
        if not token:
            return found


def _admits(where: RequestFilter, r, now: datetime, processors_of: dict[str, set[str]]) -> bool:
    return ((where.status is None or r.status is where.status)
            and (not where.overdue_only or r.overdue(now))
            and (not where.due_within_days or r.due_at < now + timedelta(days=where.due_within_days))
            and (not where.subject_id or r.subject_id == where.subject_id)
            and (where.controller_id is None or r.controller_id == where.controller_id)
            and (where.request_type is None or r.type is where.request_type)
            and (not where.jurisdiction or r.jurisdiction == where.jurisdiction)
            and (not where.processor or where.processor in processors_of.get(r.request_id, set()))
            and (not where.verified_only or r.status not in (Status.RECEIVED, Status.VERIFICATION_PENDING)))


FILTERS = [
    RequestFilter(), RequestFilter(overdue_only=True), RequestFilter(status=Status.VERIFICATION_PENDING),
    RequestFilter(status=Status.COMPLETED), RequestFilter(due_within_days=10), RequestFilter(subject_id="ana"),
    RequestFilter(controller_id=DEFAULT), RequestFilter(controller_id="other"),
    RequestFilter(controller_id="other", overdue_only=True), RequestFilter(request_type=RequestType.ACCESS),
    RequestFilter(request_type=RequestType.DELETION, jurisdiction="CN"), RequestFilter(processor="door-a"),
    RequestFilter(verified_only=True), RequestFilter(status=Status.COMPLETED, processor="door-b", controller_id=DEFAULT),
    RequestFilter(controller_id=DEFAULT, overdue_only=True),
]
NOTHING_OVERDUE = [RequestFilter(status=Status.REJECTED, overdue_only=True)]  # no rejected request is overdue


@pytest.fixture(params=["as planned", "by index walks"])
async def listing_pool(request, postgres):
    """A dsr database of its own. A few hundred rows are read by a scan where millions would be
    walked by an index: "by index walks" gets the plans a large table gets."""
    database = unique("dsr").replace("-", "_")
    postgres.create_database(database)
    if request.param == "by index walks":
        postgres.execute(f"ALTER DATABASE {database} SET enable_seqscan = off")
        postgres.execute(f"ALTER DATABASE {database} SET enable_bitmapscan = off")
    pool = await ServiceRuntime("dsr", "services.dsr.store").start_database(postgres.dsn(database), 1, 4)
    yield pool
    await pool.close()


async def test_every_filter_lists_what_it_admits_overdue_first_then_by_due_date_page_after_page(listing_pool, backend):
    now = datetime.now(UTC)
    await _store_varied_requests(listing_pool, now, 240)
    units = units_of_work(listing_pool, default_controller=DEFAULT)
    queries = RequestQueries(units, await PageTokens.of(listing_pool), Forgetting(SubjectTagger(os.urandom(32))))
    async with units.autocommit() as store:
        stored = [await store.get(f"req-{i:03d}") for i in range(240)]
        processors_of = {rid: {t.processor for t in ts} for rid, ts in (await store.tasks_of([r.request_id for r in stored])).items()}
    by_definition = sorted(stored, key=lambda r: (not r.overdue(now), r.due_at, r.request_id))
    assert 20 < sum(r.overdue(now) for r in stored) < 200  # both buckets have pages of their own

    for where in FILTERS + NOTHING_OVERDUE:
        expected = [r.request_id for r in by_definition if _admits(where, r, now, processors_of)]
        assert bool(expected) == (where in FILTERS), where  # every filter is seen to select something
        assert await _pages(queries, where, 7) == expected, where
