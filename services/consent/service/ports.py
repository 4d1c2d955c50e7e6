"""What the consent use cases need from the outside, declared here where they use it. The store's
classes (services/consent/store/) implement these structurally."""

from datetime import datetime
from typing import Protocol

from services.common.uow import UnitOfWork, UnitsOfWork
from services.consent.domain.controller import Controller
from services.consent.domain.events import Event
from services.consent.domain.filing import FilingState
from services.consent.domain.history import HistoryEntry
from services.consent.domain.model import Consent, ConsentSnapshot, Notice, Purpose


# Of a grant: is its subject erased, the purpose, the notice version the person saw, the controller.
GrantContext = tuple[bool, Purpose | None, Notice | None, Controller | None]


class ConsentStore(Protocol):
    async def add_controller(self, c: Controller) -> tuple[Controller, bool]: ...

    async def complete_controller(self, c: Controller) -> Controller | None: ...

    async def controller(self, controller_id: str) -> Controller | None: ...

    async def add_purpose(self, p: Purpose) -> Purpose | None: ...

    async def purpose(self, controller_id: str, purpose_id: str, *, for_update: bool = False) -> Purpose | None: ...

    async def purpose_holders(self, purpose_id: str, limit: int) -> list[str]: ...

    async def purposes(self, controller_id: str, visible: frozenset[str] | None, after: tuple[str, str],
                       limit: int) -> list[Purpose]: ...

    async def notices(self, controller_id: str, purpose_id: str) -> list[Notice]: ...

    async def hold_purpose(self, controller_id: str, purpose_id: str) -> None:
        """Holds the purpose (as a record written for it would) until commit."""

    async def grant_contexts(self, asks: list[tuple[str, str, int, str, str]]) -> list[GrantContext]: ...

    async def add_notices(self, controller_id: str, notices: list[Notice]) -> None: ...

    async def require_renewal(self, controller_id: str, purpose_id: str, below_version: int,
                              at: datetime) -> list[Consent]: ...

    async def consent(self, controller_id: str, subject_id: str, purpose_id: str, *,
                      for_update: bool = False) -> Consent | None: ...

    async def save_consent(self, c: Consent) -> str: ...

    async def save_granted(self, granted: list[tuple[Consent, str, str]], event_type: str, at: datetime
                           ) -> dict[str, str]:
        """Record ids by event id; an event missing: its subject was erased meanwhile."""

    async def consents_of(self, subject_id: str, controller_id: str, visible: frozenset[str] | None, after: str,
                          limit: int) -> list[Consent]: ...

    async def add_history(self, entries: list[tuple[str, HistoryEntry]]) -> None: ...

    async def history(self, consent_id: str) -> list[HistoryEntry]: ...

    async def history_after(self, consent_id: str, after: int, limit: int) -> list[tuple[int, HistoryEntry]]: ...

    async def touch(self, controller_id: str, subject_id: str, purpose_id: str, at: datetime) -> datetime | None: ...

    async def expire_due(self, now: datetime, limit: int) -> list[tuple[Consent, str]]: ...

    async def erase_subject(self, subject_id: str, controller_id: str, subject_tag: str, request_id: str,
                            at: datetime) -> list[Consent]: ...

    async def subjects_with_stored_face_data(self, controller_id: str) -> int: ...

    async def stored_face_data_by_controller(self) -> dict[str, int]: ...

    async def fold_stored_face_data(self) -> None: ...

    async def filing_count_drift(self) -> list[tuple[str, int, int]]: ...

    async def lock_filing_states(self) -> dict[str, FilingState]: ...

    async def save_filing_state(self, controller_id: str, state: FilingState, at: datetime) -> None: ...


class Snapshots(Protocol):
    """The gate's batched reads (store/snapshot_reader.py)."""

    async def snapshots(self, checks: list[tuple[str, str, str]], tags: list[str]) -> list[ConsentSnapshot]: ...

    def discard(self) -> None:
        """Drops whatever a failed read may have left half-done."""

    async def close(self) -> None: ...


ConsentWork = UnitOfWork[ConsentStore, Event]
ConsentUnits = UnitsOfWork[ConsentStore, Event]
