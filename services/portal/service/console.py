"""What staff do in the console, each inside what their account may reach: a DPO their controller's
requests and audit entries only (another's is NotFound, as an unknown one), the platform's staff every
controller's; an auditor reads and changes nothing (NotPermitted). Every change is first recorded in the
audit log as asked (`console.<change>_asked`) under the account's name, and is not asked of the platform
if that fails; whether it was made is the platform's own event (dsr's, consent's) to say."""

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime

from services.portal.domain import errors
from services.portal.domain.audit_log import Completeness, EntryQuery, Filing, ProvenEntry
from services.portal.domain.cases import QueueFilter, StaffCase
from services.portal.domain.purposes import PurposeTerms, StaffPurpose
from services.portal.domain.records import processing_csv, requests_csv
from services.portal.domain.requests import Rejection
from services.portal.domain.staff import StaffAccount
from services.portal.domain.statistics import (
    ConsentWeeks, OnTime, ProcessorLoad, WeekOfRequests, consents_per_week, last_weeks, median_days,
    on_time_by_jurisdiction, processor_loads, requests_per_week,
)
from services.portal.service.ports import ConsolePlatform

QUEUE_PAGE = 50
EVENTS_PAGE = 50
WEEKS = 12  # the dashboard's charts over time
# What the dashboard reads at most (it says when it read less than everything).
MOST_CASES, MOST_EVENTS = 20_000, 50_000
MOST_RECORDED = 500_000  # requests in one CSV register


@dataclass(frozen=True)
class Dashboard:
    controller_id: str  # "" the whole platform
    weeks: list[date]
    requests: list[WeekOfRequests]
    on_time: list[OnTime]
    median_days: float | None
    processors: list[ProcessorLoad]
    consents: list[ConsentWeeks]
    filing: Filing | None  # a controller's only
    completeness: list[Completeness] | None  # None: not the account's to see
    complete: bool  # every request was read (False past MOST_CASES)


class Console:
    def __init__(self, platform: ConsolePlatform) -> None:
        self._platform = platform

    # Requests

    async def queue(self, account: StaffAccount, where: QueueFilter, page_token: str
                    ) -> tuple[list[StaffCase], str]:
        """Overdue first, then by due date; unverified ones only if asked for (or their stage is)."""
        where = replace(where, controller_id=account.scope(where.controller_id))
        return await self._platform.queue(where, QUEUE_PAGE, page_token)

    async def case(self, account: StaffAccount, request_id: str) -> StaffCase:
        case = await self._platform.case(request_id)
        if not account.sees(case.controller_id):
            raise errors.NotFound()
        return case

    async def verify(self, account: StaffAccount, request_id: str, verified: bool, note: str, key: str) -> None:
        case = await self._changing(account, request_id, "identity_verification_asked" if verified else "identity_refusal_asked")
        await self._platform.verify(case.request_id, verified, note, key)

    async def extend(self, account: StaffAccount, request_id: str, reason: str, key: str) -> None:
        case = await self._changing(account, request_id, "extension_asked")
        await self._platform.extend(case.request_id, reason, key)

    async def reject(self, account: StaffAccount, request_id: str, rejection: Rejection, key: str) -> None:
        case = await self._changing(account, request_id, "rejection_asked", code=rejection.code)
        await self._platform.reject(case.request_id, rejection, key)

    async def acknowledge(self, account: StaffAccount, request_ids: list[str], key: str) -> int:
        """Acknowledges each request that still awaits it (a bulk action); how many were."""
        done = 0
        for request_id in request_ids:
            case = await self.case(account, request_id)
            if case.may_acknowledge:
                await self._changing(account, request_id, "acknowledgement_asked", case=case)
                await self._platform.acknowledge(request_id, f"{key}:{request_id}")
                done += 1
        return done

    async def release_export(self, account: StaffAccount, request_id: str, note: str, key: str) -> None:
        """The export was reviewed: the person may now be given it."""
        case = await self._changing(account, request_id, "export_release_asked")
        await self._platform.release_export(case.request_id, note, key)

    async def export(self, account: StaffAccount, request_id: str) -> bytes:
        """The export of a completed access request, for the DPO to review before it is released."""
        case = await self.case(account, request_id)
        await self._platform.record(account, "export_reviewed", case.controller_id, case.subject_id,
                                    request=case.request_id)
        return await self._platform.export(case.request_id)

    async def _changing(self, account: StaffAccount, request_id: str, action: str, case: StaffCase | None = None,
                        **details: str) -> StaffCase:
        if not account.may_change:
            raise errors.NotPermitted()
        case = case or await self.case(account, request_id)
        await self._platform.record(account, action, case.controller_id, case.subject_id, request=case.request_id,
                                    **details)
        return case

    # Purposes and notices (a controller's: the platform's staff name it)

    async def purposes(self, account: StaffAccount, controller_id: str) -> list[StaffPurpose]:
        return await self._platform.purposes(self._controller(account, controller_id))

    async def purpose(self, account: StaffAccount, controller_id: str, purpose_id: str) -> StaffPurpose:
        return await self._platform.purpose(self._controller(account, controller_id), purpose_id)

    async def register(self, account: StaffAccount, terms: PurposeTerms, key: str) -> None:
        terms = replace(terms, controller_id=self._controller(account, terms.controller_id))
        await self._changing_purpose(account, "purpose_registration_asked", terms.controller_id, terms.purpose_id)
        await self._platform.register(terms, key)

    async def publish(self, account: StaffAccount, controller_id: str, purpose_id: str, texts: dict[str, str],
                      material_change: bool, key: str) -> int:
        """Publishes the texts as the purpose's next notice version; consents that now need renewal."""
        controller_id = self._controller(account, controller_id)
        await self._changing_purpose(account, "notice_publication_asked", controller_id, purpose_id,
                                     material_change="yes" if material_change else "no")
        return await self._platform.publish(controller_id, purpose_id, texts, material_change, key)

    async def _changing_purpose(self, account: StaffAccount, action: str, controller_id: str, purpose_id: str,
                                **details: str) -> None:
        if not account.may_change:
            raise errors.NotPermitted()
        await self._platform.record(account, action, controller_id, purpose=purpose_id, **details)

    @staticmethod
    def _controller(account: StaffAccount, named: str) -> str:
        """The controller a purpose is read or changed in: the account's own; the platform's staff must name one."""
        scope = account.scope(named)
        if not scope:
            raise errors.ControllerRequired()
        return scope

    # The audit log

    async def events(self, account: StaffAccount, where: EntryQuery, page_token: str
                     ) -> tuple[list[tuple[int, dict]], str]:
        """A page of entries, in the account's controller (or the platform's staff's choice)."""
        where = replace(where, controller_id=account.scope(where.controller_id))
        if where.subject_id:  # looking a person up is itself recorded
            await self._platform.record(account, "person_searched", where.controller_id, where.subject_id)
        found, token = await self._platform.entries(where, EVENTS_PAGE, page_token)
        return [(index, json.loads(body)) for index, body in found], token

    async def entry(self, account: StaffAccount, leaf_index: int) -> ProvenEntry:
        """One entry with its proof; an entry from before controllers names none: the platform's staff's."""
        proven = await self._platform.proven(leaf_index)
        owner = json.loads(proven.entry_json).get("controllerId")
        if account.controller_id is not None and owner != account.controller_id:
            raise errors.NotFound()
        return proven

    async def export_events(self, account: StaffAccount, controller_id: str = "") -> AsyncIterator[bytes]:
        """The signed JSON Lines export for the offline verifier (the account's controller's entries, or
        the platform's staff's choice), recorded as downloaded by the account."""
        where = EntryQuery(controller_id=account.scope(controller_id))
        await self._platform.record(account, "log_exported", where.controller_id)
        return await self._platform.export_events(where)

    # Records for the regulator

    async def requests_record(self, account: StaffAccount, controller_id: str = "") -> str:
        """Every request in the scope as CSV, recorded as exported by the account."""
        scope = account.scope(controller_id)
        await self._platform.record(account, "requests_exported", scope)
        cases, complete = await self.every_case(scope, MOST_RECORDED)
        if not complete:  # a register cut short would mislead the regulator: none at all, and why
            raise errors.Refused("RECORD_TOO_LARGE", f"more than {MOST_RECORDED:,} requests: export them per"
                                 " controller, or from dsr's ListRequests")
        return requests_csv(cases)

    async def processing_record(self, account: StaffAccount, controller_id: str = "") -> str:
        """Every purpose in the scope with its terms, as CSV."""
        scope = account.scope(controller_id)
        await self._platform.record(account, "processing_record_exported", scope)
        return processing_csv(await self._platform.purposes(scope))

    # The dashboard

    async def dashboard(self, account: StaffAccount, controller_id: str = "", now: datetime | None = None
                        ) -> Dashboard:
        """Figures for the account's controller (or the platform's staff's choice; "" the platform)."""
        now = now or datetime.now(UTC)
        scope = account.scope(controller_id)
        weeks = last_weeks(now, WEEKS)
        since = datetime.combine(weeks[0], datetime.min.time(), UTC)

        async def nothing() -> None:
            return None
        (cases, complete), given, withdrawn, filing, completeness = await asyncio.gather(
            self.every_case(scope), self._consents(scope, "consent.granted", since),
            self._consents(scope, "consent.withdrawn", since),
            self._platform.filing(scope) if scope else nothing(),
            # Per producer, face systems included: the platform's staff's to see, not one controller's DPO's.
            self._platform.completeness() if account.controller_id is None else nothing())
        return Dashboard(
            scope, weeks, requests_per_week([c for c in cases if c.received_at >= since], weeks),
            on_time_by_jurisdiction(cases), median_days(cases), processor_loads(cases, now),
            consents_per_week(given, withdrawn, weeks), filing, completeness, complete)

    async def every_case(self, scope: str, most: int = MOST_CASES) -> tuple[list[StaffCase], bool]:
        """Every request in the scope, unverified and finished ones too, up to `most`; whether that was all."""
        cases, token = [], ""
        while len(cases) < most:
            page, token = await self._platform.queue(QueueFilter(controller_id=scope, with_unverified=True), 500,
                                                     token)
            cases += page
            if not token:
                return cases, True
        return cases, False

    async def _consents(self, scope: str, event_type: str, since: datetime) -> list[tuple[datetime, str]]:
        """(when, purpose) of each such consent event since then, from the audit log."""
        found, token = [], ""
        while len(found) < MOST_EVENTS:
            page, token = await self._platform.entries(
                EntryQuery(event_type=event_type, occurred_from=since, controller_id=scope), 1000, token)
            for _, body in page:
                entry = json.loads(body)
                at = datetime.fromisoformat(entry["occurredAt"].replace("Z", "+00:00"))
                found.append((at, entry["payload"].get("consent", {}).get("purposeId", "")))
            if not token:
                break
        return found
