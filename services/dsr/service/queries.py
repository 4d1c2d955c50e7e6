"""Reading requests for the DPO (lists with overdue first, timelines, task status) and the export of
a finished access request. A controller's client reads its controller's requests only: another's is
answered exactly as an unknown one."""

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from services.common.page_tokens import PageTokens
from services.dsr.domain import errors
from services.dsr.domain.model import EXPORTABLE, Request, RequestType, Status, Task
from services.dsr.service.forgetting import Forgetting
from services.dsr.service.ports import DsrUnits


@dataclass(frozen=True)
class RequestFilter:
    status: Status | None = None
    overdue_only: bool = False
    due_within_days: int = 0
    subject_id: str = ""
    # One controller's requests (None: every controller's, for an operator). A subject is a subject of
    # one controller: a filter by subject always names the controller.
    controller_id: str | None = None
    request_type: RequestType | None = None
    jurisdiction: str = ""
    processor: str = ""  # requests with a task for this processor
    verified_only: bool = False  # none still awaiting the identity check

    def fingerprint(self) -> bytes:
        query = {**asdict(self), "status": self.status.value if self.status else 0,
                 "request_type": self.request_type.value if self.request_type else 0}
        for narrower in ("request_type", "jurisdiction", "processor", "verified_only"):  # unused: bound as tokens were before them
            if not query[narrower]:
                del query[narrower]
        if self.controller_id is None:  # every controller's: bound as tokens were before controllers
            del query["controller_id"]
        return json.dumps(query).encode()


def _after(position: list) -> tuple[int, datetime, str]:
    """The last request a page showed: (0 if it was overdue, its due date, its id)."""
    bucket, due, request_id = position
    return int(bucket), datetime.fromisoformat(due), str(request_id)


class RequestQueries:
    def __init__(self, uow: DsrUnits, tokens: PageTokens, forgetting: Forgetting) -> None:
        self._uow, self._tokens, self._forgetting = uow, tokens, forgetting

    async def tasks(self, requests: list[Request]) -> dict[str, list[Task]]:
        """Each request's tasks, in one query however many requests are asked about."""
        with_tasks = [r.request_id for r in requests if r.status.has_tasks]
        if not with_tasks:
            return {}
        async with self._uow.autocommit() as store:
            return await store.tasks_of(with_tasks)

    async def find(self, where: RequestFilter, limit: int, token: str) -> tuple[list[Request], str]:
        """Overdue open requests first, then everything else by due date; a page token continues only
        the query it came from."""
        now = datetime.now(UTC)
        after = self._position(where, token) if token else None
        async with self._uow.autocommit() as store:
            found = await store.find(
                now=now, status=where.status, overdue_only=where.overdue_only,
                due_before=now + timedelta(days=where.due_within_days) if where.due_within_days else None,
                subject_id=where.subject_id, after=after, limit=limit, controller=where.controller_id,
                request_type=where.request_type, jurisdiction=where.jurisdiction, processor=where.processor,
                verified_only=where.verified_only,
                subject_names=self._forgetting.names(where.subject_id, where.controller_id or "")
                if where.subject_id else ())
        if len(found) < limit:
            return found, ""
        last = found[-1]
        return found, self._tokens.issue(where.fingerprint(), [int(not last.overdue(now)), last.due_at.isoformat(),
                                                                last.request_id])

    def _position(self, where: RequestFilter, token: str) -> tuple[int, datetime, str]:
        return self._tokens.continued(token, where.fingerprint(), _after)

    async def export(self, request_id: str, scope: str | None, released_only: bool) -> bytes:
        """`scope`: the caller's controller (None: an operator's, every controller); `released_only`: the
        caller acts for the person, who is given the export only once staff released it."""
        async with self._uow.autocommit() as store:
            r = await store.get(request_id)
            if r is None or not r.seen_in(scope):
                raise errors.RequestNotFound(request_id)
            if r.type not in EXPORTABLE:
                raise errors.ExportUnavailable(request_id, f"a {r.type.name} request has none")
            if not r.status.finished:
                raise errors.ExportUnavailable(request_id, f"it is {r.status.name}")
            if released_only and r.awaits_release:
                raise errors.ExportNotReleased(request_id)
            export = await store.export(request_id)
        if export is None:  # written when the request completed, forgotten after the retention
            raise errors.ExportUnavailable(request_id, "its retention has passed and it was deleted")
        return export
