"""The console's check of the audit log, with progress a page can show: the signed export of what the
account may read (its controller's entries, or every entry for the platform's staff) is verified here,
entry by entry, as the offline verifier does (consentry_client.audit_verify), against the log's public
key. The console so trusts the audit service's answer no more than a regulator would.

Checks live in this replica's memory (a page that polls it is served by the replica that started it, or
finds none and says so); the export is held whole while it is checked."""

import asyncio
import uuid
from dataclasses import dataclass, field

from consentry_client.audit_verify import verify_export
from services.common.logging import get_logger
from services.portal.domain import errors
from services.portal.domain.staff import StaffAccount
from services.portal.service.console import Console

log = get_logger(__name__)
KEPT = 20  # finished checks kept to show, per replica


@dataclass
class LogCheck:
    check_id: str
    account: str
    controller_id: str  # "" for every controller
    downloaded: int = 0  # lines of the export received
    checked: int = 0
    total: int = 0
    done: bool = False
    ok: bool = False
    tree_size: int = 0
    entries_verified: int = 0
    problems: list[str] = field(default_factory=list)


class LogChecks:
    def __init__(self, console: Console, public_key: callable) -> None:
        """`public_key()`: the PEM of the key that signs the log's checkpoints."""
        self._console, self._public_key = console, public_key
        self._checks: dict[str, LogCheck] = {}
        self._tasks: set[asyncio.Task] = set()

    async def start(self, account: StaffAccount, controller_id: str = "") -> LogCheck:
        """A new check; or the account's check still running (one at a time each: a check holds an export)."""
        running = next((c for c in self._checks.values() if c.account == account.name and not c.done), None)
        if running is not None:
            return running
        lines = await self._console.export_events(account, controller_id)  # recorded before it runs
        check = LogCheck(str(uuid.uuid4()), account.name, account.scope(controller_id))
        self._checks[check.check_id] = check
        for old in [c for c in self._checks.values() if c.done][:-KEPT]:
            del self._checks[old.check_id]
        task = asyncio.create_task(self._run(check, lines), name="console-log-check")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return check

    def get(self, account: StaffAccount, check_id: str) -> LogCheck:
        check = self._checks.get(check_id)
        if check is None or check.account != account.name:
            raise errors.NotFound()
        return check

    async def _run(self, check: LogCheck, chunks) -> None:
        try:
            buffer = bytearray()
            async for chunk in chunks:
                buffer += chunk
                check.downloaded = buffer.count(b"\n")
            pem = await self._public_key()

            def progress(done: int, total: int) -> None:
                check.checked, check.total = done, total
            verdict = await asyncio.to_thread(verify_export, buffer.decode().splitlines(), pem,
                                              controller=check.controller_id or None, progress=progress)
            check.ok, check.tree_size, check.entries_verified = verdict.ok, verdict.tree_size, verdict.entries_verified
            check.problems = list(verdict.problems)
        except Exception as exc:  # noqa: BLE001 - shown on the page as a failed check
            log.warning("console log check failed", error=type(exc).__name__)
            check.problems = [f"the check could not finish: {type(exc).__name__}"]
        finally:
            check.done = True
