"""The single writer of the log. One replica at a time holds the sequencer lock; it reads events
from Kafka and from the Append inbox, drops those already in the log, turns subject ids into
references, appends the batch to the Merkle tree and commits entries, new tree nodes, the signed
checkpoint and the Kafka offsets in one transaction. Anything failing rolls the whole batch back
and the sequencer starts again from what the database says, so the log cannot fork or skip."""

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime

from services.audit.domain import merkle
from services.audit.domain.checkpoint import Checkpoint, note_for
from services.audit.domain.completeness import ProducerProgress, Watermark
from services.audit.domain.entry import Entry, Event
from services.audit.service.gaps import GapWatch
from services.audit.service.ports import Offsets, SequencerSession, Signer, Source, SubjectRefs
from services.common.logging import get_logger
from services.common.validation import is_identifier

log = get_logger(__name__)


class Sequencer:
    def __init__(self, lead: Callable[[], Awaitable[SequencerSession]], source: Source, refs: SubjectRefs,
                 signer: Signer, gaps: GapWatch, *, batch_size: int = 5000, poll_ms: int = 100,
                 default_controller: str = "") -> None:
        """`lead`: opens a session once it holds the single writer's lock (waiting while another does).
        `default_controller`: whose subjects were subjects before controllers (erasure_key's, see
        services/common/erasure.py); "" for a deployment that began with controllers."""
        self._open_session, self._source, self._refs, self._signer, self._gaps = lead, source, refs, signer, gaps
        self._default_controller = default_controller
        self._batch_size, self._poll_ms = batch_size, poll_ms
        self._inbox_waiting = asyncio.Event()
        self.leading = False

    def inbox_added(self) -> None:
        self._inbox_waiting.set()

    async def run(self) -> None:
        backoff = 0.5
        while True:
            session = None
            try:
                session = await self._open_session()
                await self._lead(session)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - broker, database, keyvault or Vault away: start over
                log.warning("sequencer restarting", error=str(exc) or type(exc).__name__, backoff_s=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                self.leading = False
                await self._source.stop()
                if session is not None:
                    session.close()

    async def _lead(self, session: SequencerSession) -> None:
        store = session.store
        size = await store.size()
        frontier = merkle.Frontier.from_nodes(size, await store.nodes(set(merkle.perfect_nodes(0, size))))
        progress = {p.producer: p for p in await store.progress()}
        await session.on_inbox(self._inbox_waiting.set)
        self._inbox_waiting.set()  # whatever was appended while no one was sequencing
        await self._source.start(await store.offsets())
        self.leading = True
        log.info("sequencer leading", tree_size=size)
        committing: asyncio.Future | None = None  # the last batch's transaction, while the next is read
        try:
            while True:
                events, marks, offsets = await self._source.poll(self._batch_size, self._poll_ms)
                if committing is not None:
                    await committing  # a batch that did not commit ends the lead: start over from the store
                    committing = None
                await self._gaps.check(store, progress)  # all it reads is committed now
                from_inbox = await store.inbox(self._batch_size) if self._inbox_waiting.is_set() else []
                if len(from_inbox) < self._batch_size:
                    self._inbox_waiting.clear()
                touched = self._note_watermarks(progress, marks)
                if events or from_inbox or offsets:
                    frontier, committing = await self._integrate(session, frontier, progress, events + from_inbox,
                                                                 [e.event_id for e in from_inbox], offsets, touched)
                elif touched:
                    await store.save_progress(touched)
        finally:
            if committing is not None:  # let finish (whole or not at all either way), never left running
                with contextlib.suppress(Exception):  # a cancellation meanwhile still ends the lead
                    await committing

    @staticmethod
    def _note_watermarks(progress: dict[str, ProducerProgress], marks: list[Watermark]) -> list[ProducerProgress]:
        touched = []
        for mark in marks:
            state = progress.setdefault(mark.producer, ProducerProgress(mark.producer))
            if mark.last_sequence > state.highest_seen:
                state.announced(mark.last_sequence)
                touched.append(state)
        return touched

    async def _integrate(self, session: SequencerSession, frontier: merkle.Frontier,
                         progress: dict[str, ProducerProgress], events: list[Event], inbox_ids: list[str],
                         offsets: Offsets, touched: list[ProducerProgress]) -> tuple[merkle.Frontier, asyncio.Future]:
        """The batch made into entries, nodes and a signed checkpoint; returns the grown tree and the
        batch's transaction, under way on the session: the caller reads the next batch meanwhile and
        awaits it before using the store again."""
        store = session.store
        unique = list({e.event_id: e for e in events}.values())
        known = await store.known_event_ids([e.event_id for e in unique]) if unique else set()
        fresh = [self._controller(e) for e in unique if e.event_id not in known]
        refs = await self._subject_refs(fresh)
        entries = [Entry.of(e, refs.get((e.controller_id, e.subject_id), "")) for e in fresh]
        grown = frontier.copy()
        nodes = grown.extend(merkle.leaf_hash(e.body) for e in entries)
        checkpoint = await self._checkpoint(grown) if entries else None
        changed = {p.producer: p for p in touched}
        for entry in entries:
            if entry.sequence is not None:
                state = progress.setdefault(entry.producer, ProducerProgress(entry.producer))
                state.saw(entry.sequence)
                changed[entry.producer] = state

        async def commit() -> None:
            async with session.transaction():
                if checkpoint is not None:
                    await store.append(frontier.size, entries, nodes, checkpoint)
                await store.advance(offsets, inbox_ids, list(changed.values()))

        return grown, asyncio.ensure_future(commit())

    def _controller(self, event: Event) -> Event:
        """An event whose producer named no controller: about a subject, it is from before controllers
        (or its producer not yet upgraded), and its subject is the default controller's; about no
        subject, it is the platform's own ("": only an operator reads it)."""
        if event.controller_id or not event.subject_id:
            return event
        if not self._default_controller:
            log.warning("an event about a subject names no controller and there is no default controller:"
                        " it enters the log naming no subject", event_id=event.event_id, producer=event.producer)
        return replace(event, controller_id=self._default_controller)

    async def _subject_refs(self, events: list[Event]) -> dict[tuple[str, str], str]:
        """(controller, subject id): reference, one keyvault call per controller."""
        by_controller: dict[str, set[str]] = defaultdict(set)
        for e in events:
            if e.subject_id and e.controller_id and is_identifier(e.subject_id):
                by_controller[e.controller_id].add(e.subject_id)
        refs: dict[tuple[str, str], str] = {}
        for controller, subjects in sorted(by_controller.items()):
            found = await self._refs(controller, sorted(subjects))
            refs.update({(controller, subject): ref for subject, ref in found.items()})
        return refs

    async def _checkpoint(self, frontier: merkle.Frontier) -> Checkpoint:
        issued = datetime.now(UTC)
        root = frontier.root()
        note = note_for(frontier.size, root, issued)
        return Checkpoint(frontier.size, root, issued, note, await self._signer.sign(note), self._signer.key_id)
