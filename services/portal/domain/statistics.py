"""Figures about requests and consents, computed from the records themselves: what the console's
dashboard draws (and tabulates) and what the public metrics page states. Plain Python over domain
objects, so a chart shows exactly what the platform's API answers."""

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from statistics import median
from typing import Protocol

from services.portal.domain.cases import StaffCase
from services.portal.domain.requests import Kind, Stage


class Step(Protocol):
    at: datetime
    stage: Stage


class Answered(Protocol):
    """A request as far as the yearly figures go: the console's StaffCase and the portal's Case both are."""
    kind: Kind
    stage: Stage
    received_at: datetime
    timeline: Sequence[Step]

    @property
    def awaits_release(self) -> bool: ...

OUTCOMES = ("completed", "partially_completed", "rejected", "open")


def week_of(at: datetime) -> date:
    """The Monday (UTC) of the week the moment falls in."""
    day = at.date()
    return day - timedelta(days=day.weekday())


def finished_at(case: Answered) -> datetime | None:
    """When the person had their answer: the request's last step in a final stage (an export's release is
    one); None while open or while its export is held for review."""
    if not case.stage.done or case.awaits_release:
        return None
    return next((e.at for e in reversed(case.timeline) if e.stage.done), None)


def outcome(case: StaffCase) -> str:
    """Open until the person has their answer (an export held for review is not one yet)."""
    return case.stage.value if finished_at(case) is not None else "open"


def days_to_respond(case: Answered) -> float | None:
    done = finished_at(case)
    return (done - case.received_at).total_seconds() / 86400 if done else None


@dataclass(frozen=True)
class WeekOfRequests:
    week: date
    by_kind: dict[Kind, int]
    by_outcome: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_kind.values())


@dataclass(frozen=True)
class OnTime:
    jurisdiction: str
    finished: int
    on_time: int

    @property
    def percent(self) -> int:
        return round(100 * self.on_time / self.finished) if self.finished else 0


@dataclass(frozen=True)
class ProcessorLoad:
    processor: str
    backlog: int  # tasks sent or waiting to be sent, not yet answered
    oldest_days: float  # how long the oldest of them has waited (since its request was received)
    failed: int
    settled: int  # confirmed or failed

    @property
    def failure_percent(self) -> int:
        return round(100 * self.failed / self.settled) if self.settled else 0


def requests_per_week(cases: list[StaffCase], weeks: list[date]) -> list[WeekOfRequests]:
    kinds: dict[date, Counter] = defaultdict(Counter)
    outcomes: dict[date, Counter] = defaultdict(Counter)
    for case in cases:
        week = week_of(case.received_at)
        kinds[week][case.kind] += 1
        outcomes[week][outcome(case)] += 1
    return [WeekOfRequests(week, {k: kinds[week][k] for k in Kind}, {o: outcomes[week][o] for o in OUTCOMES})
            for week in weeks]


def on_time_by_jurisdiction(cases: list[StaffCase]) -> list[OnTime]:
    finished: Counter = Counter()
    in_time: Counter = Counter()
    for case in cases:
        done = finished_at(case)
        if done is not None:
            finished[case.jurisdiction] += 1
            in_time[case.jurisdiction] += done <= case.due_at
    return [OnTime(j, finished[j], in_time[j]) for j in sorted(finished)]


def median_days(cases: Sequence[Answered]) -> float | None:
    days = [d for d in map(days_to_respond, cases) if d is not None]
    return round(median(days), 1) if days else None


def processor_loads(cases: list[StaffCase], now: datetime) -> list[ProcessorLoad]:
    backlog: Counter = Counter()
    failed: Counter = Counter()
    settled: Counter = Counter()
    oldest: dict[str, float] = {}
    for case in cases:
        for task in case.tasks:
            if task.state in ("pending", "sent"):
                backlog[task.processor] += 1
                waited = (now - case.received_at).total_seconds() / 86400
                oldest[task.processor] = max(oldest.get(task.processor, 0.0), waited)
            else:
                settled[task.processor] += 1
                failed[task.processor] += task.state == "failed"
    names = sorted(set(backlog) | set(settled))
    return [ProcessorLoad(n, backlog[n], round(oldest.get(n, 0.0), 1), failed[n], settled[n]) for n in names]


@dataclass(frozen=True)
class YearOfRequests:
    """What CCPA (11 CCR 7102) has a business publish each year, per kind of request."""
    year: int
    kind: Kind
    received: int
    complied: int  # in whole or in part
    rejected: int
    median_days: float | None


def requests_per_year(cases: Sequence[Answered]) -> list[YearOfRequests]:
    grouped: dict[tuple[int, Kind], list[Answered]] = defaultdict(list)
    for case in cases:
        grouped[(case.received_at.year, case.kind)].append(case)
    return [YearOfRequests(year, kind, len(group),
                           sum(c.stage is not Stage.REJECTED and finished_at(c) is not None for c in group),
                           sum(c.stage is Stage.REJECTED for c in group), median_days(group))
            for (year, kind), group in sorted(grouped.items(), key=lambda item: (-item[0][0], list(Kind).index(item[0][1])))]


@dataclass(frozen=True)
class ConsentWeeks:
    purpose_id: str
    given: dict[date, int]
    withdrawn: dict[date, int]


def consents_per_week(given: list[tuple[datetime, str]], withdrawn: list[tuple[datetime, str]],
                      weeks: list[date]) -> list[ConsentWeeks]:
    """From (when, purpose) of each consent given and withdrawn, per purpose and week."""
    counts: dict[str, tuple[Counter, Counter]] = defaultdict(lambda: (Counter(), Counter()))
    for (at, purpose), which in [*((g, 0) for g in given), *((w, 1) for w in withdrawn)]:
        counts[purpose][which][week_of(at)] += 1
    return [ConsentWeeks(p, {w: counts[p][0][w] for w in weeks}, {w: counts[p][1][w] for w in weeks})
            for p in sorted(counts)]


def last_weeks(now: datetime, count: int) -> list[date]:
    this = week_of(now)
    return [this - timedelta(weeks=n) for n in reversed(range(count))]
