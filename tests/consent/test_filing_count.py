"""The filing count PostgreSQL keeps (migration 0011) stays exactly what counting every consent
gives: checked after every step against that count taken afresh (the query it replaced)."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import asyncpg
from structlog.testing import capture_logs

from consentry.consent.v1 import consent_admin_pb2 as admin_pb
from consentry.consent.v1 import consent_pb2 as pb
from services.common.db import apply_migrations
from services.consent.domain.model import ConsentState, StorageLocation
from services.consent.store.repository import ConsentStore
from tests.consent.builders import NOTICE_EN, grant, registered_controller, registered_purpose, time_passes
from tests.consent.test_controllers import EVERY, migrated_before
from tests.support import unique

# Distinct people with a GIVEN or RENEWAL_REQUIRED consent to a SERVER purpose, per controller, in the
# domain's own values: the migration's rule (stores_face_data) must agree with them.
RECOUNT = ("SELECT p.controller_id, count(DISTINCT c.subject_id) AS people FROM consents c"
           " JOIN purposes p USING (purpose_id, controller_id)"
           f" WHERE p.storage_location = {StorageLocation.SERVER.value}"
           f" AND c.state IN ({ConsentState.GIVEN.value}, {ConsentState.RENEWAL_REQUIRED.value})"
           " GROUP BY p.controller_id")


@asynccontextmanager
async def connected(postgres, database: str = "consent") -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(postgres.dsn(database))
    try:
        yield conn
    finally:
        await conn.close()


async def stored_and_recounted(conn: asyncpg.Connection) -> tuple[dict[str, int], dict[str, int]]:
    stored = await ConsentStore(conn).stored_face_data_by_controller()
    return stored, {r["controller_id"]: r["people"] for r in await conn.fetch(RECOUNT)}


async def counted(admin, postgres, controller_id: str) -> int:
    """The controller's count as GetFilingStatus answers it, once the stored counts of every
    controller were found equal to the recount."""
    status = await admin.GetFilingStatus(pb.GetFilingStatusRequest(controller_id=controller_id))
    async with connected(postgres) as conn:
        stored, recounted = await stored_and_recounted(conn)
    assert stored == recounted
    assert status.subjects_with_stored_face_data == recounted.get(controller_id, 0)
    return status.subjects_with_stored_face_data


def withdrawal(subject_id: str, purpose_id: str) -> pb.WithdrawConsentRequest:
    return pb.WithdrawConsentRequest(subject_id=subject_id, purpose_id=purpose_id,
                                     actor=pb.Actor(kind=pb.ACTOR_KIND_SUBJECT), idempotency_key=unique("wd"))


async def counted_rows_of(postgres, subject_id: str) -> list[tuple[str, int]]:
    async with connected(postgres) as conn:
        return [tuple(r.values()) for r in await conn.fetch(
            "SELECT controller_id, consents FROM stored_face_data_subjects WHERE subject_id = $1", subject_id)]


async def test_the_count_follows_grants_withdrawals_renewal_expiry_and_erasure(admin, consent_admin, postgres):
    controller = (await registered_controller(consent_admin)).controller_id
    server, second_server = [await registered_purpose(admin, controller_id=controller) for _ in range(2)]
    short = await registered_purpose(admin, controller_id=controller, retention=timedelta(days=1))
    on_device = await registered_purpose(admin, controller_id=controller, storage_location=pb.STORAGE_LOCATION_DEVICE)
    alice, bob, carol = unique("alice"), unique("bob"), unique("carol")
    steps = []

    async def step(name: str, change) -> None:
        await change
        steps.append((name, await counted(admin, postgres, controller)))

    await step("alice grants", admin.GrantConsent(grant(alice, server.purpose_id)))
    await step("alice grants a second server purpose", admin.GrantConsent(grant(alice, second_server.purpose_id)))
    await step("alice grants the first again", admin.GrantConsent(grant(alice, server.purpose_id)))
    await step("bob grants on the device only", admin.GrantConsent(grant(bob, on_device.purpose_id)))
    await step("bob grants on the server", admin.GrantConsent(grant(bob, server.purpose_id)))
    await step("alice withdraws one of two", admin.WithdrawConsent(withdrawal(alice, server.purpose_id)))
    await step("alice withdraws the other", admin.WithdrawConsent(withdrawal(alice, second_server.purpose_id)))
    await step("alice grants again", admin.GrantConsent(grant(alice, server.purpose_id)))
    await step("renewal required", admin.PublishNotice(pb.PublishNoticeRequest(
        purpose_id=server.purpose_id, material_change=True, idempotency_key=unique("pub"),
        texts=[pb.PublishNoticeRequest.Text(language="en", text=NOTICE_EN + " Revised.")])))
    await step("carol grants for a day", admin.GrantConsent(grant(carol, short.purpose_id)))
    await time_passes(postgres, carol, short.purpose_id, timedelta(days=2))
    await step("carol's consent expires", consent_admin.ExpireConsents(admin_pb.ExpireConsentsRequest()))
    await step("bob is erased", consent_admin.EraseSubject(admin_pb.EraseSubjectRequest(
        subject_id=bob, request_id=unique("dsr"), controller_id=controller, idempotency_key=unique("erase"))))

    assert steps == [("alice grants", 1), ("alice grants a second server purpose", 1),
                     ("alice grants the first again", 1), ("bob grants on the device only", 1),
                     ("bob grants on the server", 2), ("alice withdraws one of two", 2),
                     ("alice withdraws the other", 1), ("alice grants again", 2), ("renewal required", 2),
                     ("carol grants for a day", 3), ("carol's consent expires", 2), ("bob is erased", 1)]
    assert await counted_rows_of(postgres, alice) == [(controller, 1)]
    assert await counted_rows_of(postgres, bob) == [] and await counted_rows_of(postgres, carol) == []


async def test_concurrent_grants_of_many_people_and_of_one_person_are_each_counted_once(
        admin, consent_admin, postgres):
    controller = (await registered_controller(consent_admin)).controller_id
    purposes = [await registered_purpose(admin, controller_id=controller) for _ in range(5)]
    people, one = [unique("crowd") for _ in range(50)], unique("one")

    await asyncio.gather(*(admin.GrantConsent(grant(p, purposes[0].purpose_id)) for p in people))
    crowd = await counted(admin, postgres, controller)
    # The same person to every purpose at once, each grant twice (separate keys: two grants, one record).
    await asyncio.gather(*(admin.GrantConsent(grant(one, p.purpose_id)) for p in purposes * 2))
    with_one = await counted(admin, postgres, controller)
    held = await counted_rows_of(postgres, one)
    await asyncio.gather(*(admin.WithdrawConsent(withdrawal(one, p.purpose_id)) for p in purposes),
                         *(admin.WithdrawConsent(withdrawal(p, purposes[0].purpose_id)) for p in people[:20]))
    after_withdrawals = await counted(admin, postgres, controller)

    assert (crowd, with_one, after_withdrawals) == (50, 51, 30)
    assert held == [(controller, 5)] and await counted_rows_of(postgres, one) == []


async def test_a_purpose_moved_between_device_and_server_takes_its_consents_along(admin, consent_admin, postgres):
    controller = (await registered_controller(consent_admin)).controller_id
    moved, kept = [await registered_purpose(admin, controller_id=controller) for _ in range(2)]
    both, only_moved = unique("both"), unique("only-moved")
    for subject, purpose in ((both, moved), (both, kept), (only_moved, moved)):
        await admin.GrantConsent(grant(subject, purpose.purpose_id))
    before = await counted(admin, postgres, controller)

    async def stored_at(location: int) -> int:
        async with connected(postgres) as conn:  # an operator's UPDATE: no RPC changes a purpose's location
            await conn.execute("UPDATE purposes SET storage_location = $1 WHERE purpose_id = $2 AND controller_id = $3",
                               location, moved.purpose_id, controller)
        return await counted(admin, postgres, controller)

    on_device = await stored_at(pb.STORAGE_LOCATION_DEVICE)
    back_on_server = await stored_at(pb.STORAGE_LOCATION_SERVER)

    assert (before, on_device, back_on_server) == (2, 1, 2)


async def test_the_sweep_folds_the_changes_into_each_controllers_total(admin, consent_admin, consent_app, postgres):
    controller = (await registered_controller(consent_admin)).controller_id
    purpose = await registered_purpose(admin, controller_id=controller)
    for subject in (unique("a"), unique("b"), unique("c")):
        await admin.GrantConsent(grant(subject, purpose.purpose_id))
    query = "SELECT {} FROM {} WHERE controller_id = $1"

    async def tables() -> tuple[int, int | None]:
        async with connected(postgres) as conn:
            return (await conn.fetchval(query.format("count(*)", "stored_face_data_changes"), controller),
                    await conn.fetchval(query.format("people", "stored_face_data_counts"), controller))

    before = await tables()
    await consent_app.filing.sweep()
    folded = await tables()

    assert before[0] + (before[1] or 0) == 3  # the service's own sweep may have folded some already
    assert folded == (0, 3)
    assert await counted(admin, postgres, controller) == 3


async def test_the_migration_counts_the_consents_already_there(postgres):
    async with migrated_before(postgres, "0011") as pool:
        await pool.execute(
            "INSERT INTO purposes (purpose_id, controller_id, name, data_categories, storage_location, retention,"
            " legal_basis, non_face_alternative, minimum_age, pia_reference)"
            " SELECT p, c, 'Gate', '{1}', l, '365 days', 1, 'Badge', 0, 'PIA-1'"
            " FROM (VALUES ('gate', 'campus-a', 2), ('lab', 'campus-a', 2), ('phone', 'campus-a', 1),"
            " ('gate', 'campus-b', 2)) AS t(p, c, l)")
        await pool.execute(  # (subject, purpose, controller, state): states 1 given, 2 withdrawn, 3 expired, 4 renewal
            "INSERT INTO consents (consent_id, subject_id, purpose_id, controller_id, state, notice_version,"
            " notice_language, notice_hash, jurisdiction, collection_method, actor_kind, subject_age,"
            " alternative_offered, granted_at, expires_at, last_interaction_at, updated_at)"
            " SELECT gen_random_uuid(), s, p, c, st, 1, 'en', 'hash', 'CN', 1, 1, 30, true, now(), now(), now(), now()"
            " FROM (VALUES ('mei', 'gate', 'campus-a', 1), ('mei', 'lab', 'campus-a', 4),"
            " ('li', 'gate', 'campus-a', 2), ('li', 'phone', 'campus-a', 1), ('wu', 'lab', 'campus-a', 4),"
            " ('zhao', 'gate', 'campus-a', 3), ('mei', 'gate', 'campus-b', 1)) AS t(s, p, c, st)")

        applied = await apply_migrations(pool, EVERY)
        async with pool.acquire() as conn:
            backfilled = await stored_and_recounted(conn)
            await conn.execute("UPDATE consents SET state = 1 WHERE subject_id = 'li' AND purpose_id = 'gate'")
            counted_on = await stored_and_recounted(conn)

    assert applied[0] == "services.consent.store:0011_stored_face_data_count.sql"
    assert backfilled == ({"campus-a": 2, "campus-b": 1},) * 2  # mei (twice) and wu; mei
    assert counted_on == ({"campus-a": 3, "campus-b": 1},) * 2  # and li, through the triggers from then on


async def test_a_count_that_drifted_from_the_consents_is_reported_until_recounted(
        admin, consent_admin, consent_app, postgres):
    controller = (await registered_controller(consent_admin)).controller_id
    purpose = await registered_purpose(admin, controller_id=controller)
    for subject in (unique("a"), unique("b")):
        await admin.GrantConsent(grant(subject, purpose.purpose_id))
    await consent_app.filing.sweep()

    async def drift() -> list[tuple[str, int, int]]:
        return [d for d in await consent_app.filing.drift() if d[0] == controller]
    before = await drift()
    async with connected(postgres) as conn:  # as a bulk load without triggers, or a fault in them, would
        await conn.execute("UPDATE stored_face_data_counts SET people = people + 5 WHERE controller_id = $1",
                           controller)
        with capture_logs() as logs:
            drifted = await drift()
        await conn.execute("SELECT recount_stored_face_data()")
    after = await drift()

    assert before == [] and after == []
    assert drifted == [(controller, 7, 2)]
    assert [(e["log_level"], e["controller"], e["kept"], e["counted"]) for e in logs
            if e["event"].startswith("filing count drifted")] == [("error", controller, 7, 2)]
