"""The filing watch (Face Recognition Measures Art. 15): counts the people whose face data each
controller stores on a server and announces on `consent.events` when a count reaches the warning
share of the threshold (`consent.filing.approaching`) or the threshold (`consent.filing.required`),
once per crossing. PostgreSQL keeps the counts as consents change, so reading them costs a row per
controller and the changes since the last sweep; announcing is left to a periodic sweep, as filing is
due in 30 working days and each crossing is announced once, not by the grant that made it."""

import asyncio
from collections.abc import Callable
from datetime import datetime

from services.common.logging import get_logger
from services.consent.domain import errors
from services.consent.domain import events as ev
from services.consent.domain.filing import FilingRule, FilingState, FilingStatus, crossed
from services.consent.service.consents import utcnow
from services.consent.service.ports import ConsentUnits

log = get_logger(__name__)

class FilingWatch:
    def __init__(self, uow: ConsentUnits, rule: FilingRule, clock: Callable[[], datetime] = utcnow) -> None:
        self._uow, self.rule, self._now = uow, rule, clock

    async def status(self, controller_id: str) -> FilingStatus:
        """ControllerNotFound for a controller never registered: a count of zero would read as an
        answer about a controller that has none of its subjects' face data."""
        async with self._uow() as uow:
            if await uow.store.controller(controller_id) is None:
                raise errors.ControllerNotFound(controller_id)
            people = await uow.store.subjects_with_stored_face_data(controller_id)
        return FilingStatus(controller_id, people, self.rule.threshold, self.rule.state(people))

    async def sweep(self) -> list[FilingStatus]:
        """Records every controller's changed state; returns the crossings it announced."""
        async with self._uow() as uow:
            announced = await uow.store.lock_filing_states()
            await uow.store.fold_stored_face_data()  # under the sweep's lock: one replica folds at a time
            counts = await uow.store.stored_face_data_by_controller()
            crossings, now = [], self._now()
            for controller_id in sorted(counts.keys() | announced.keys()):
                people = counts.get(controller_id, 0)
                status = FilingStatus(controller_id, people, self.rule.threshold, self.rule.state(people))
                before = announced.get(controller_id, FilingState.BELOW_THRESHOLD)
                if status.state is before:
                    continue
                await uow.store.save_filing_state(controller_id, status.state, now)
                if crossed(before, status.state):
                    uow.emit(ev.FilingThresholdCrossed(status))
                    crossings.append(status)
            await uow.commit()
        return crossings


    async def drift(self) -> list[tuple[str, int, int]]:
        """(controller, people as kept, people counted from the consents) wherever they differ: a load
        that bypassed the triggers, or a fault in them. Each is logged as an error for an operator,
        who runs recount_stored_face_data(); not corrected here, since a recount holds up every
        writer of consents while it runs. Counting every consent costs a scan of them all."""
        async with self._uow(isolation="repeatable_read", readonly=True) as uow:
            drifts = await uow.store.filing_count_drift()
        for controller_id, kept, counted in drifts:
            log.error("filing count drifted: run SELECT recount_stored_face_data() in the consent database",
                      controller=controller_id, kept=kept, counted=counted)
        return drifts


async def run_filing_watch(watch: FilingWatch, interval_s: float, drift_check_s: float) -> None:
    """Sweeps every `interval_s`; compares the kept count with a fresh one at start and every
    `drift_check_s`."""
    loop = asyncio.get_running_loop()
    drift_due = loop.time()
    while True:
        try:
            for status in await watch.sweep():
                log.warning("filing threshold crossed", controller=status.controller_id, people=status.people,
                            threshold=status.threshold, state=status.state.name)
            if loop.time() >= drift_due:
                await watch.drift()
                drift_due = loop.time() + drift_check_s
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the store may be restarting; the next round catches up
            log.warning("filing sweep failed", error=str(exc))
        await asyncio.sleep(interval_s)
