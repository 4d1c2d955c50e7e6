"""The SQL of a DPO's listing (DsrStore.find): overdue requests first, then the rest, each by due date
and id. The order is computed from the clock, so no index holds it; a page is merged from runs that
each walk an index in (due_at, request_id) order and stop at the page's size: the overdue in three
(their partial indexes, migration 0010), the rest in one (the status's or controller's index when the
listing names one). Only the filters a listing sets are in its SQL, so
the planner sees which index serves it: a generic `($n IS NULL OR ...)` hides that."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.dsr.domain.model import ERASED, EXPORTABLE, RequestType, Status
from services.dsr.store.rows import REQUEST_COLUMNS

_SETTLED = ", ".join(str(s.value) for s in Status if s.settled)
# An export written and held for staff to review (Request.awaits_release, in SQL).
HELD = (f"(type IN ({', '.join(str(t.value) for t in EXPORTABLE)})"
        f" AND status IN ({', '.join(str(s.value) for s in Status if s.finished)})"
        f" AND export_released_at IS NULL AND subject_id NOT LIKE '{ERASED}%')")


_OPEN = frozenset(s for s in Status if not s.settled)


def _overdue_arms(now: str) -> tuple[tuple[frozenset[Status], str], ...]:
    """Request.overdue in SQL, as three arms no row is in twice, each walked in due order by a partial
    index of its own: open past the deadline; open, before it, with the receipt's acknowledgement
    late; an export held past it. The planner cannot tell how few rows an OR of them matches. Each
    with the statuses its rows can have: a listing of another status skips it."""
    return ((_OPEN, f"status NOT IN ({_SETTLED}) AND due_at < {now}"),
            (_OPEN, f"status NOT IN ({_SETTLED}) AND acknowledged_at IS NULL AND acknowledgement_due_at IS NOT NULL"
                    f" AND acknowledgement_due_at < {now} AND due_at >= {now}"),
            (frozenset(s for s in Status if s.finished), f"{HELD} AND due_at < {now}"))


def overdue(now: str) -> str:
    return f"(({') OR ('.join(arm for _, arm in _overdue_arms(now))}))"


@dataclass
class _Sql:
    args: list[Any] = field(default_factory=list)

    def __call__(self, value: Any) -> str:
        """`value`'s placeholder."""
        self.args.append(value)
        return f"${len(self.args)}"


@dataclass(frozen=True)
class Listing:
    now: datetime
    limit: int
    after: tuple[int, datetime, str] | None = None  # the last row shown: (bucket, due date, id)
    overdue_only: bool = False
    status: Status | None = None
    due_before: datetime | None = None
    subject_names: Sequence[str] = ()  # every name the subject's rows may have; () for everybody's
    controller: str | None = None
    default_controller: str = ""  # whose the rows from before controllers (controller_id NULL) are
    request_type: RequestType | None = None
    jurisdiction: str = ""
    processor: str = ""
    verified_only: bool = False

    def sql(self) -> tuple[str, list[Any]] | None:
        """The page's query and its arguments; None where no request can match (overdue only, of a
        status no request is overdue in)."""
        p = _Sql()
        filters, now, limit = self._filters(p), p(self.now), p(self.limit)
        runs = []
        if not self.after or self.after[0] == 0:
            runs += [(0, arm) for statuses, arm in _overdue_arms(now) if self.status in (None, *statuses)]
        if not self.overdue_only:
            runs.append((1, f"{overdue(now)} IS NOT TRUE"))
        if not runs:
            return None
        owners = self._owners(p)
        after = f"(due_at, request_id) > ({p(self.after[1])}, {p(self.after[2])})" if self.after else ""
        selects = []
        for bucket, predicate in runs:
            keyset = [after] if self.after and self.after[0] == bucket else []
            for owner in owners:
                where = " AND ".join([*filters, *owner, predicate, *keyset])
                selects.append(f"(SELECT {REQUEST_COLUMNS}, {bucket} AS bucket FROM requests r WHERE {where}"
                               f" ORDER BY due_at, request_id LIMIT {limit})")
        return (f"SELECT * FROM ({' UNION ALL '.join(selects)}) page ORDER BY bucket, due_at, request_id"
                f" LIMIT {limit}"), p.args

    def _owners(self, p: _Sql) -> list[list[str]]:
        """The controller's rows, as walks of its index: the default controller's rows from before
        controllers have none (NULL), a walk of their own rather than a coalesce no index serves."""
        if self.controller is None:
            return [[]]
        mine = [[f"controller_id = {p(self.controller)}"]]
        return mine + [["controller_id IS NULL"]] if self.controller == self.default_controller else mine

    def _filters(self, p: _Sql) -> list[str]:
        where = []
        if self.status is not None:
            where.append(f"status = {p(self.status.value)}")
        if self.due_before is not None:
            where.append(f"due_at < {p(self.due_before)}")
        if self.subject_names:
            where.append(f"subject_id = ANY({p(list(self.subject_names))}::text[])")
        if self.request_type is not None:
            where.append(f"type = {p(self.request_type.value)}")
        if self.jurisdiction:
            where.append(f"jurisdiction = {p(self.jurisdiction)}")
        if self.processor:
            where.append(f"EXISTS (SELECT 1 FROM tasks t WHERE t.request_id = r.request_id AND t.processor = {p(self.processor)})")
        if self.verified_only:
            where.append(f"status NOT IN ({Status.RECEIVED.value}, {Status.VERIFICATION_PENDING.value})")
        return where
