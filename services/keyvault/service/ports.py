"""What the keyvault use cases need from the outside, declared here where they use it. The store's
classes (services/keyvault/store/) implement these structurally; the Vault side is declared in
backends.py."""

from datetime import datetime
from typing import Protocol

from services.common.uow import UnitOfWork, UnitsOfWork
from services.keyvault.domain.events import Event
from services.keyvault.domain.model import Certificate, ConsentAnswer, Generation, SubjectKey


class KeyStore(Protocol):
    """Subject keys, known to the rows only by each subject's keyed tag at its controller (None: the
    default controller's, see services/common/erasure.py)."""

    async def get(self, controller_id: str | None, subject_id: str) -> SubjectKey | None: ...

    async def get_many(self, controller_id: str | None, subject_ids: list[str]) -> dict[str, SubjectKey]: ...
    async def live_subjects(self, controller_id: str, subject_ids: list[str]) -> set[str]: ...

    async def add_many(self, keys: list[SubjectKey]) -> set[str]: ...

    async def mark_shredding(self, key: SubjectKey, subject_ref: str) -> bool: ...

    async def shred(self, key: SubjectKey, request_id: str, at: datetime, certificate: Certificate) -> bool: ...

    async def certificate(self, controller_id: str | None, subject_id: str) -> Certificate | None: ...

    async def wrapped_below(self, controller_id: str | None, kek_version: int, limit: int
                            ) -> list[tuple[str, str]]: ...

    async def replace_wrapped(self, changes: list[tuple[str, str, str, int]]) -> int: ...

    async def kek_floor(self, controller_id: str | None) -> int: ...

    async def raise_kek_floor(self, controller_id: str | None, version: int) -> bool: ...

    async def offboarding(self, controller_id: str, *, for_update: bool = False) -> Certificate | None: ...

    async def live_keys(self, controller_id: str) -> list[tuple[str, str]]: ...

    async def offboard(self, controller_id: str, at: datetime, certificate: Certificate, tags: list[str]) -> None: ...

    async def complete_offboarding(self, controller_id: str, certificate: Certificate) -> bool: ...


class GenerationStore(Protocol):
    """Key generations per (subject tag, purpose)."""

    async def get(self, subject_tag: str, purpose_id: str) -> Generation | None: ...

    async def begin(self, subject_tag: str, purpose_id: str, after: Generation | None, consent_id: str,
                    lapses: int, secret: bytes) -> Generation | None: ...

    async def retire(self, subject_tag: str, purpose_id: str, number: int, lapses: int) -> bool: ...

    async def delete_subject(self, subject_tag: str) -> int: ...


class ConsentGate(Protocol):
    """The consent service's answer for a subject of a controller and a purpose, which must be that
    controller's (store/consent_client.py)."""

    async def check(self, controller_id: str, subject_id: str, purpose_id: str) -> ConsentAnswer: ...

    async def registered(self, controller_id: str) -> bool: ...


KeyWork = UnitOfWork[KeyStore, Event]
KeyUnits = UnitsOfWork[KeyStore, Event]
GenerationWork = UnitOfWork[GenerationStore, Event]
GenerationUnits = UnitsOfWork[GenerationStore, Event]
