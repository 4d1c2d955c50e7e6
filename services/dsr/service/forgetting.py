"""What dsr forgets of a person, and when. A request keeps what proves it was answered (its type,
dates, statuses, certificate) for good; what identifies the person goes:
- at once when a deletion of the person completes: every settled request of theirs names them by
  the keyed tombstone only, their evidence, corrections, exports and results go, dsr's outbox stops
  naming them and their event key is destroyed (their events on the broker open to nobody);
- for everyone else, a retention after the request settled: the export stays that long for the
  person to fetch, the evidence for the DPO to review a complaint."""

from datetime import UTC, datetime, timedelta

import asyncpg

from services.common.erasure import SubjectTagger
from services.common.event_keys import destroy_event_keys
from services.common.outbox_retention import redact_persons
from services.dsr.domain.model import ERASED, Request
from services.dsr.store.repository import DsrStore

BATCH = 1000


class Forgetting:
    def __init__(self, tagger: SubjectTagger) -> None:
        self._tagger = tagger

    def names(self, subject_id: str) -> list[str]:
        """Every name the person's requests may have: their id, and after their erasure the tombstone."""
        return [subject_id, self.tombstone(subject_id)]

    def tombstone(self, subject_id: str) -> str:
        return ERASED + self._tagger.tag(subject_id)

    async def erased(self, conn: asyncpg.Connection, deletions: list[Request]) -> None:
        """In the transaction that settles these deletions: from then on each names nobody."""
        if not deletions:
            return
        tags = {r.subject_id: self._tagger.tag(r.subject_id) for r in deletions}
        await DsrStore(conn).forget_people({subject: ERASED + tag for subject, tag in tags.items()})
        await redact_persons(conn, list(tags))
        await destroy_event_keys(conn, list(tags.values()))
        for r in deletions:
            r.subject_id = ERASED + tags[r.subject_id]


async def forget_settled(pool: asyncpg.Pool, older_than: timedelta) -> int:
    """The retention sweep: requests settled longer ago than `older_than`."""
    forgotten = 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            done = await DsrStore(conn).forget_settled(datetime.now(UTC) - older_than, BATCH)
        forgotten += done
        if done < BATCH:
            return forgotten
