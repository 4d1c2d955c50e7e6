"""What dsr forgets of a person, and when. A request keeps what proves it was answered (its type,
dates, statuses, certificate) for good; what identifies the person goes:
- at once when a deletion of the person completes: every settled request of theirs names them by
  the keyed tombstone only, their evidence, corrections, exports and results go, dsr's outbox stops
  naming them and their event key is destroyed (their events on the broker open to nobody). A person
  is a subject of one controller: the same person's requests at another controller stay as they are,
  and their tombstone differs at each controller (services/common/erasure.py);
- for everyone else, a retention after the request settled: the export stays that long for the
  person to fetch, the evidence for the DPO to review a complaint."""

from datetime import UTC, datetime, timedelta

from services.common.erasure import SubjectTagger
from services.dsr.domain.model import ERASED, Request
from services.dsr.service.ports import DsrStore, DsrUnits

BATCH = 1000


class Forgetting:
    def __init__(self, tagger: SubjectTagger) -> None:
        self._tagger = tagger

    def names(self, subject_id: str, controller_id: str) -> list[str]:
        """Every name the subject's requests at the controller may have: their id, and after their
        erasure there the tombstone."""
        return [subject_id, self.tombstone(subject_id, controller_id)]

    def tombstone(self, subject_id: str, controller_id: str) -> str:
        return ERASED + self._tag(subject_id, controller_id)

    def _tag(self, subject_id: str, controller_id: str) -> str:
        # "": a request from before controllers where no default controller is configured, tagged as then.
        return self._tagger.tag(subject_id, controller_id or None)

    async def erased(self, store: DsrStore, deletions: list[Request]) -> None:
        """In the unit of work that settles these deletions: from then on each names nobody."""
        if not deletions:
            return
        tags = {(r.controller_id, r.subject_id): self._tag(r.subject_id, r.controller_id) for r in deletions}
        await store.forget_people(tags)
        for r in deletions:
            r.subject_id = ERASED + tags[(r.controller_id, r.subject_id)]


async def forget_settled(uow: DsrUnits, older_than: timedelta) -> int:
    """The retention sweep: requests settled longer ago than `older_than`."""
    forgotten = 0
    while True:
        async with uow() as work:
            done = await work.store.forget_settled(datetime.now(UTC) - older_than, BATCH)
            await work.commit()
        forgotten += done
        if done < BATCH:
            return forgotten
