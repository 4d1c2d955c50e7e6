"""Use cases of the consent service. Each runs in one unit of work: the change, its history and
its events commit together or not at all.

Each is answered inside one controller: `within` (or a command's `acting_for`) is the caller's
controller, or the one an operator named, and a purpose of another controller is read exactly as one
that does not exist. A purpose id is unique within its controller only: two controllers may both use
"gate-access", and neither learns of the other's. None is an operator's call that named no controller,
answered in the one controller using that purpose id (if several do, the operator must name one). A
subject is a subject of one controller: the same person at two controllers has two erasure tags, two
tombstones, two event keys."""

from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from services.common.batching import MicroBatcher
from services.common.erasure import SubjectTagger
from services.common.idempotency import Idempotent, Replayed
from services.common.ids import new_id
from services.consent.domain import commands, errors
from services.consent.domain.controller import Controller
from services.consent.domain import events as ev
from services.consent.domain.history import ERASED, ConsentAsOf, HistoryEntry, as_of
from services.consent.domain.jurisdiction import GuardianAges, check_grantor
from services.consent.domain.model import (
    Consent, ConsentState, Notice, Purpose, check_grant, content_hash, expiry_cause,
)
from services.consent.domain.receipt import build_receipt, canonical_bytes
from services.common.signing import Ed25519Signer
from services.common.telemetry import current_traceparent
from services.consent.service.ports import ConsentUnits, ConsentWork, GrantContext


def utcnow() -> datetime:
    return datetime.now(UTC)


async def controller_of(uow: ConsentWork, purpose_id: str, within: str | None) -> str:
    """The controller a call about a purpose is in: `within`, or for an operator who named none the one
    controller using the purpose id."""
    if within is not None:
        return within
    holders = await uow.store.purpose_holders(purpose_id, limit=2)
    if not holders:
        raise errors.PurposeNotFound(purpose_id)
    if len(holders) > 1:
        raise errors.ControllerRequired(purpose_id)
    return holders[0]


@dataclass(frozen=True)
class Receipt:
    receipt_json: bytes
    signature: bytes
    key_id: str


@dataclass(frozen=True)
class Granted:
    consent: Consent
    receipt: Receipt


@dataclass(frozen=True)
class GrantCall:
    cmd: commands.GrantConsent
    idem: Idempotent[Granted] | None
    traceparent: str  # the caller's: its event carries it, though a batch commits it

    def keys(self) -> tuple[Hashable, ...]:
        """Two calls with a key in common go in separate batches: a retry after its first call, two
        grants of one subject's purpose (one statement cannot write one record twice)."""
        pair = ("purpose of", self.cmd.subject_id, self.cmd.purpose_id)
        return (pair, self.idem.key.scope) if self.idem is not None else (pair,)

    def batch_group(self) -> tuple[str | None, str]:
        """Grants are batched by purpose and caller: a batch waiting on its purpose's lock (a notice
        being published) holds up no grant of another purpose."""
        return self.cmd.acting_for, self.cmd.purpose_id


@dataclass(frozen=True)
class _Granting:
    """A grant of a batch that may be given: the call it answers, its subject's tag, the consent, and
    what its receipt names."""

    index: int
    tag: str
    consent: Consent
    event_id: str
    purpose: Purpose
    notice: Notice
    controller: Controller | None


# At most this many grants commit in one transaction.
GRANTS_PER_UNIT = 256


@dataclass(frozen=True)
class Published:
    notices: list[Notice]
    consents_needing_renewal: int


@dataclass(frozen=True)
class Erased:
    consents_erased: int
    erased_at: datetime


class ConsentService:
    def __init__(self, uow: ConsentUnits, signer: Ed25519Signer, tagger: SubjectTagger,
                 clock: Callable[[], datetime] = utcnow, guardian_ages: GuardianAges | None = None) -> None:
        self._uow, self._tagger = uow, tagger
        self._guardian_ages = guardian_ages or GuardianAges()
        self._signer = signer
        self._now = clock
        self._grants = MicroBatcher(self._grant_all, max_batch=GRANTS_PER_UNIT, keys=GrantCall.keys,
                                    group=GrantCall.batch_group)

    async def _run(self, idem: Idempotent | None, work):
        """A retry with the idempotency key of an earlier call gets that call's stored answer."""
        async with self._uow() as uow:
            result = await uow.once(idem, lambda: work(uow))
            await uow.commit()
            return result

    async def register_controller(self, cmd: commands.RegisterController,
                                  idem: Idempotent[Controller] | None = None) -> Controller | Replayed:
        """The same controller again is answered with the one on record; other details under its id are
        refused, except for a controller known only by its purposes' id, whose details are filled in once."""
        async def work(uow: ConsentWork) -> Controller:
            controller, added = await uow.store.add_controller(cmd.controller)
            if added:
                uow.emit(ev.ControllerRegistered(controller))
            elif not controller.same_as(cmd.controller):
                completed = await uow.store.complete_controller(cmd.controller)
                if completed is None:
                    raise errors.ControllerExists(cmd.controller.controller_id)
                controller = completed
                uow.emit(ev.ControllerRegistered(controller))
            return controller
        return await self._run(idem, work)

    async def get_controller(self, controller_id: str, visible_to: str | None) -> Controller:
        """`visible_to`: the caller's own controller (None: an operator, who sees every one). Another
        controller's is not found, in the same words as one never registered."""
        if visible_to is not None and controller_id != visible_to:
            raise errors.ControllerNotFound(controller_id)
        async with self._uow() as uow:
            controller = await uow.store.controller(controller_id)
        if controller is None:
            raise errors.ControllerNotFound(controller_id)
        return controller

    async def register_purpose(self, cmd: commands.RegisterPurpose,
                               idem: Idempotent[Purpose] | None = None) -> Purpose | Replayed:
        controller_id = cmd.purpose.controller_id
        if cmd.acting_for is not None and controller_id != cmd.acting_for:
            raise errors.ControllerNotFound(controller_id)  # before anything is stored, retries included

        async def work(uow: ConsentWork) -> Purpose:
            if await uow.store.controller(controller_id) is None:
                raise errors.ControllerNotRegistered(controller_id)
            purpose = await uow.store.add_purpose(cmd.purpose)  # another controller's of that id is no obstacle
            if purpose is None:
                raise errors.PurposeExists(cmd.purpose.purpose_id)
            uow.emit(ev.PurposeRegistered(purpose))
            return purpose
        return await self._run(idem, work)

    async def get_purpose(self, purpose_id: str, within: str | None = None) -> tuple[Purpose, list[Notice]]:
        async with self._uow() as uow:
            controller_id = await controller_of(uow, purpose_id, within)
            purpose = await uow.store.purpose(controller_id, purpose_id)
            if purpose is None:
                raise errors.PurposeNotFound(purpose_id)
            return purpose, await uow.store.notices(controller_id, purpose_id)

    async def publish_notice(self, cmd: commands.PublishNotice,
                             idem: Idempotent[Published] | None = None) -> Published | Replayed:
        async def work(uow: ConsentWork) -> Published:
            controller_id = await controller_of(uow, cmd.purpose_id, cmd.acting_for)
            purpose = await uow.store.purpose(controller_id, cmd.purpose_id, for_update=True)
            if purpose is None:
                raise errors.PurposeNotFound(cmd.purpose_id)
            now, version = self._now(), purpose.current_notice_version + 1
            notices = [Notice(purpose.purpose_id, version, language, text, content_hash(text),
                              cmd.material_change, now) for language, text in cmd.texts]
            await uow.store.add_notices(controller_id, notices)
            uow.emit(ev.NoticePublished(tuple(notices), purpose.controller_id))
            renewals: list[Consent] = []
            if cmd.material_change:
                renewals = await uow.store.require_renewal(controller_id, purpose.purpose_id, version, now)
                await self._record(uow, [(c, ev.ConsentRenewalRequired(c, version), "notice changed")
                                         for c in renewals], now)
            return Published(notices, len(renewals))
        return await self._run(idem, work)

    async def grant(self, cmd: commands.GrantConsent,
                    idem: Idempotent[Granted] | None = None) -> Granted | Replayed:
        """Grants arriving together are granted together, in one unit of work (see `_grant_all`)."""
        return await self._grants.submit(GrantCall(cmd, idem, current_traceparent()))

    async def _grant_all(self, calls: list[GrantCall]) -> list[Granted | Replayed | Exception]:
        """One batch: grants of one purpose by one caller, never two of one key or one subject
        (GrantCall.keys). Each is answered as if alone: a refused one (an erased subject, a notice not
        seen, a key used for another request) writes nothing and leaves its key free; the others
        commit together."""
        answers: dict[int, Granted | Replayed | Exception] = {}
        async with self._uow() as uow:
            def refuse(i: int, error: Exception) -> None:
                uow.release(calls[i].idem)
                answers[i] = error

            claims = await uow.claim_each([call.idem for call in calls])
            answers.update((i, claim) for i, claim in enumerate(claims) if claim is not None)
            claimed = [i for i, claim in enumerate(claims) if claim is None]
            granting = await self._granting(uow, calls, claimed, refuse) if claimed else []
            if granting:
                answers.update(await self._give(uow, calls, granting, refuse))
            await uow.commit()
        return [answers[i] for i in range(len(calls))]

    async def _give(self, uow: ConsentWork, calls: list[GrantCall], granting: list[_Granting],
                    refuse: Callable[[int, Exception], None]) -> dict[int, Granted]:
        """Writes the records, their history and events; the grants given, by call."""
        saved = await uow.store.save_granted([(g.consent, g.event_id, g.tag) for g in granting],
                                             ev.ConsentGranted.type, granting[0].consent.granted_at)
        given: dict[int, Granted] = {}
        for g in granting:
            if g.event_id not in saved:  # erased by an erasure that committed while the context was read
                refuse(g.index, errors.SubjectErased(g.consent.subject_id))
                continue
            consent = replace(g.consent, consent_id=saved[g.event_id])
            uow.emit(ev.ConsentGranted(consent), g.event_id, traceparent=calls[g.index].traceparent)
            given[g.index] = granted = Granted(consent, self._signed(consent, g.purpose, g.notice, g.controller))
            uow.answer(calls[g.index].idem, granted)
        return given

    async def _granting(self, uow: ConsentWork, calls: list[GrantCall], claimed: list[int],
                        refuse: Callable[[int, Exception], None]) -> list[_Granting]:
        """The grants of the claimed calls that may be given, each subject and the purpose held until
        commit; the others refused."""
        first = calls[claimed[0]].cmd  # the batch's purpose and caller
        try:
            within = await controller_of(uow, first.purpose_id, first.acting_for)  # a read for operators only
        except errors.ConsentError as error:
            for i in claimed:
                refuse(i, error)
            return []
        # Every batch takes its subjects' locks, then writes their records, in the order of their tags:
        # two batches at once wait for each other, never in a circle.
        asked = sorted((self._tagger.tag(calls[i].cmd.subject_id, within), i) for i in claimed)
        contexts = await uow.store.grant_contexts([
            (tag, first.purpose_id, calls[i].cmd.notice_version, calls[i].cmd.notice_language, within)
            for tag, i in asked])
        now, granting = self._now(), []
        for (tag, i), context in zip(asked, contexts, strict=True):
            try:
                consent = self._consent(calls[i].cmd, context, now)
            except errors.ConsentError as error:
                refuse(i, error)
                continue
            _, purpose, notice, controller = context
            assert purpose is not None and notice is not None  # as _consent found them
            granting.append(_Granting(i, tag, consent, str(new_id()), purpose, notice, controller))
        if granting:
            # Held before any record is written: a notice publication (which holds the purpose, then
            # updates its records) waits for the batch, or the batch for it, never each for the other.
            await uow.store.hold_purpose(within, first.purpose_id)
        return granting

    def _consent(self, cmd: commands.GrantConsent, context: GrantContext, now: datetime) -> Consent:
        """The consent a grant gives in its context, or the error refusing it."""
        erased, purpose, notice, _ = context
        if erased:
            raise errors.SubjectErased(cmd.subject_id)
        if purpose is None:
            raise errors.PurposeNotFound(cmd.purpose_id)
        check_grant(purpose, notice, version=cmd.notice_version, language=cmd.notice_language,
                    seen_hash=cmd.notice_hash)
        check_grantor(self._guardian_ages, jurisdiction=cmd.jurisdiction, purpose_id=purpose.purpose_id,
                      purpose_minimum=purpose.minimum_age, subject_age=cmd.subject_age, actor=cmd.actor,
                      collection_method=cmd.collection_method, evidence_ref=cmd.evidence_ref)
        assert notice is not None
        # A renewed or re-given consent keeps the record id of the (subject, purpose) pair (save_granted).
        return Consent(
            consent_id=str(new_id()),
            subject_id=cmd.subject_id, purpose_id=purpose.purpose_id, controller_id=purpose.controller_id,
            state=ConsentState.GIVEN, notice_version=notice.version, notice_language=notice.language,
            notice_hash=notice.content_hash, jurisdiction=cmd.jurisdiction,
            collection_method=cmd.collection_method, evidence_ref=cmd.evidence_ref, actor=cmd.actor,
            subject_age=cmd.subject_age, alternative_offered=cmd.alternative_offered,
            granted_at=now, expires_at=now + purpose.retention, last_interaction_at=now, updated_at=now,
        )

    async def withdraw(self, cmd: commands.WithdrawConsent,
                       idem: Idempotent[Consent] | None = None) -> Consent | Replayed:
        async def work(uow: ConsentWork) -> Consent:
            controller_id = await controller_of(uow, cmd.purpose_id, cmd.acting_for)
            current = await uow.store.consent(controller_id, cmd.subject_id, cmd.purpose_id, for_update=True)
            if current is None:
                raise errors.ConsentNotFound(cmd.subject_id, cmd.purpose_id)
            now = self._now()
            withdrawn = current.withdrawn(now)
            await uow.store.save_consent(withdrawn)
            # The history names who withdrew and how; the record keeps who granted and how.
            event_id = str(new_id())
            entry = HistoryEntry.of(withdrawn, event_id, ev.ConsentWithdrawn.type, cmd.reason, now).acted(
                cmd.actor, cmd.collection_method, cmd.evidence_ref)
            await uow.store.add_history([(withdrawn.consent_id, entry)])
            uow.emit(ev.ConsentWithdrawn(withdrawn, cmd.reason), event_id)
            return withdrawn
        return await self._run(idem, work)

    async def history(self, subject_id: str, purpose_id: str,
                      within: str | None = None) -> tuple[Consent, list[HistoryEntry]]:
        async with self._uow() as uow:
            consent = await uow.store.consent(await controller_of(uow, purpose_id, within), subject_id, purpose_id)
            if consent is None:
                raise errors.ConsentNotFound(subject_id, purpose_id)
            return consent, await uow.store.history(consent.consent_id)

    async def receipt(self, subject_id: str, purpose_id: str, within: str | None = None) -> Receipt:
        """The signed receipt of the grant in force, as it was given at the grant (see receipt_id); the
        purpose and controller as they read now."""
        async with self._uow() as uow:
            controller_id = await controller_of(uow, purpose_id, within)
            consent = await uow.store.consent(controller_id, subject_id, purpose_id)
            if consent is None:
                raise errors.ConsentNotFound(subject_id, purpose_id)
            if consent.state is not ConsentState.GIVEN:
                raise errors.ConsentNotActive(subject_id, purpose_id, consent.state.name)
            if expiry_cause(consent.expires_at, consent.last_interaction_at, self._now()):  # as the gate decides
                raise errors.ConsentNotActive(subject_id, purpose_id, ConsentState.EXPIRED.name)
            [(_, purpose, notice, controller)] = await uow.store.grant_contexts([(
                self._tagger.tag(subject_id, controller_id), purpose_id, consent.notice_version,
                consent.notice_language, controller_id)])
            assert purpose is not None and notice is not None  # a grant's purpose and notice are never removed
            return self._signed(consent, purpose, notice, controller)

    def _signed(self, consent: Consent, purpose: Purpose, notice: Notice, controller: Controller | None) -> Receipt:
        body = canonical_bytes(build_receipt(consent, purpose, notice, controller))
        return Receipt(body, self._signer.sign(body), self._signer.key_id)

    async def as_of(self, subject_id: str, purpose_id: str, moment: datetime,
                    within: str | None = None) -> ConsentAsOf:
        """GDPR 7(1): the consent as it stood at a past moment, from the history alone."""
        _, history = await self.history(subject_id, purpose_id, within)
        return as_of(history, moment)

    async def record_interaction(self, cmd: commands.RecordInteraction) -> datetime:
        async with self._uow() as uow:
            controller_id = await controller_of(uow, cmd.purpose_id, cmd.acting_for)
            last = await uow.store.touch(controller_id, cmd.subject_id, cmd.purpose_id,
                                         min(cmd.occurred_at, self._now()))
            if last is None:
                raise errors.ConsentNotFound(cmd.subject_id, cmd.purpose_id)
            await uow.commit()
            return last

    async def erase_subject(self, cmd: commands.EraseSubject,
                            idem: Idempotent[Erased] | None = None) -> Erased | Replayed:
        async def work(uow: ConsentWork) -> Erased:
            now = self._now()
            controller = cmd.controller_id
            if await uow.store.controller(controller) is None:  # a mistyped id would erase no one and say so
                raise errors.ControllerNotFound(controller)
            erased = await uow.store.erase_subject(cmd.subject_id, controller,
                                                   self._tagger.tag(cmd.subject_id, controller), cmd.request_id, now)
            await self._record(uow, [(c, None, f"erasure request {cmd.request_id}") for c in erased], now)
            uow.emit(ev.SubjectErased(self._tagger.tombstone(cmd.subject_id, controller), cmd.request_id, len(erased),
                                      controller))
            return Erased(len(erased), now)
        return await self._run(idem, work)

    async def expire_due(self, cmd: commands.ExpireConsents) -> int:
        async with self._uow() as uow:
            expired = await uow.store.expire_due(cmd.as_of, cmd.batch_size)
            await self._record(uow, [(c, ev.ConsentExpired(c, cause), cause) for c, cause in expired], cmd.as_of)
            await uow.commit()
            return len(expired)

    async def _record(self, uow: ConsentWork, changes: list[tuple[Consent, ev.Event | None, str]],
                      at: datetime) -> None:
        """History rows, and events sharing their ids, for changed records."""
        entries = []
        for consent, event, reason in changes:
            event_id = str(new_id())
            entries.append((consent.consent_id, HistoryEntry.of(
                consent, event_id, event.type if event else ERASED, reason, at)))
            if event is not None:
                uow.emit(event, event_id)
        if entries:
            await uow.store.add_history(entries)
