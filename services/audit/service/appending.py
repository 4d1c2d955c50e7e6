"""Append: face systems' own events (enrolments, match attempts) join the log through the inbox,
durable before the call returns; the sequencer integrates them with the next batch."""

from services.audit.domain.entry import Event
from services.audit.service.ports import LogUnits
from services.common.validation import FieldViolation, InvalidArgument

# How far a face system's sequence may run ahead of what the log already holds from it: a number
# beyond would open a gap no replay can fill, and completeness would report it missing for ever.
SEQUENCE_WINDOW = 10_000


class Inbox:
    def __init__(self, uow: LogUnits) -> None:
        self._uow = uow

    async def append(self, events: list[Event]) -> int:
        """Returns how many were new; an event id already in the inbox or the log is not added again."""
        async with self._uow() as uow:
            numbered = [(i, e.sequence) for i, e in enumerate(events) if e.sequence is not None]
            if numbered:
                limit = await uow.store.accepted_up_to(events[0].producer) + SEQUENCE_WINDOW
                beyond = [FieldViolation(f"events[{i}].sequence", "sequence.window",
                                         f"must be at most {limit}: {SEQUENCE_WINDOW} past the last one the log holds")
                          for i, sequence in numbered if sequence > limit]
                if beyond:
                    raise InvalidArgument(beyond)
            accepted = await uow.store.add_to_inbox(events)
            if accepted:
                await uow.store.announce_inbox()
            await uow.commit()
        return accepted
