"""What the audit use cases need from the outside, declared here where they use it. The store's
classes (services/audit/store/) and the Kafka side (services/audit/events/) implement these
structurally."""

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from services.audit.domain.checkpoint import Checkpoint
from services.audit.domain.completeness import ProducerProgress, Watermark
from services.audit.domain.entry import Entry, EntryFilter, Event
from services.common.uow import UnitOfWork, UnitsOfWork

NodeAddress = tuple[int, int]
Offsets = dict[tuple[str, int], int]  # (topic, partition): the next offset to read


class LogStore(Protocol):
    # The log
    async def append(self, first_index: int, entries: list[Entry], nodes: list[tuple[int, int, bytes]],
                     checkpoint: Checkpoint) -> None: ...

    async def size(self) -> int: ...

    async def known_event_ids(self, event_ids: list[str]) -> set[str]: ...

    async def nodes(self, addresses: set[NodeAddress]) -> dict[NodeAddress, bytes]: ...

    async def node_ranges(self, ranges: list[tuple[int, int, int]]) -> list[list[bytes]]: ...

    async def latest_checkpoint(self) -> Checkpoint | None: ...

    async def checkpoint_at(self, tree_size: int) -> Checkpoint | None: ...

    async def checkpoints(self) -> list[Checkpoint]: ...

    async def find(self, where: EntryFilter, after_index: int, below_size: int, limit: int
                   ) -> list[tuple[int, bytes]]: ...

    async def leaf_controller(self, leaf_index: int) -> tuple[bool, str | None]: ...

    async def entries_in_frames(self, first: int, end: int) -> list[Sequence]: ...

    async def entries_with_columns(self, leaf_indexes: list[int]) -> list[Sequence]: ...

    async def scan_nodes(self, level: int, below_index: int) -> list[tuple[int, bytes]]: ...

    async def level_digest(self, level: int, below_index: int) -> tuple[int, bool, bytes]: ...

    async def export_snapshot(self) -> str: ...

    async def adopt_snapshot(self, snapshot: str) -> None: ...

    # The sequencer's working state
    async def advance(self, offsets: Offsets, inbox_done: list[str], progress: list[ProducerProgress]) -> None: ...

    async def save_progress(self, progress: list[ProducerProgress]) -> None: ...

    async def offsets(self) -> Offsets: ...

    async def progress(self) -> list[ProducerProgress]: ...

    async def replay_requested(self, producer: str) -> None: ...

    # The Append inbox
    async def add_to_inbox(self, events: list[Event]) -> int: ...

    async def announce_inbox(self) -> None: ...

    async def accepted_up_to(self, producer: str) -> int: ...

    async def inbox(self, limit: int) -> list[Event]: ...


class SequencerSession(Protocol):
    """The single writer's own connection, holding its lock while open (store/sequencer_session.py)."""

    store: LogStore

    async def on_inbox(self, wake: Callable[[], None]) -> None: ...

    def transaction(self) -> AbstractAsyncContextManager: ...

    def close(self) -> None: ...


class Source(Protocol):
    """The events topics (events/kafka_source.py)."""

    async def start(self, offsets: Offsets) -> None: ...

    async def poll(self, max_records: int, timeout_ms: int) -> tuple[list[Event], list[Watermark], Offsets]: ...

    async def stop(self) -> None: ...


class Signer(Protocol):
    """Signs checkpoints with a key that never leaves Vault (store/checkpoint_signer.py)."""

    key_id: str

    async def sign(self, note: bytes) -> bytes: ...


# (controller, subject ids): their references at that controller, from keyvault
SubjectRefs = Callable[[str, list[str]], Awaitable[dict[str, str]]]
LogWork = UnitOfWork[LogStore, None]
LogUnits = UnitsOfWork[LogStore, None]
