"""Key generations: every data key of a (subject, purpose) is sealed under the secret of the
generation that belongs to the consent term it was issued in, then wrapped by the subject key.
When the consent ends (withdrawn, expired) the secret is destroyed, so the data keys of that term
never open again, even after the person consents anew (which starts the next generation).

Keyvault learns of an end from dsr's withdrawal request (RetirePurposeKeys, confirmed by a consent
check of its own), from any consent check that answers WITHDRAWN or EXPIRED, and from an answer of a
later consent term; whichever comes first destroys the secret. A person's erasure deletes all.
Generations are per (controller, subject): the tag names the subject at one controller."""

from services.common.erasure import SubjectTagger
from services.common.logging import get_logger
from services.common.uow import STORE_FAILURES
from services.keyvault.domain import errors
from services.keyvault.domain import events as ev
from services.keyvault.domain.model import ConsentAnswer, Generation
from services.keyvault.service import crypto
from services.keyvault.service.key_cache import SubjectKeyCache
from services.keyvault.service.ports import GenerationUnits

log = get_logger(__name__)
# A concurrent release may begin the generation first; the next read then finds it.
MAX_ATTEMPTS = 3


def cache_key(subject_tag: str, purpose_id: str) -> str:
    """As the table's trigger announces a change (store migration 0003)."""
    return f"{subject_tag}\x1f{purpose_id}"


class PurposeGenerations:
    def __init__(self, uow: GenerationUnits, tagger: SubjectTagger, cache: SubjectKeyCache[Generation]) -> None:
        self._uow, self._tagger, self.cache = uow, tagger, cache

    async def for_issue(self, controller_id: str, subject_id: str, purpose_id: str,
                        answer: ConsentAnswer) -> tuple[str, Generation]:
        """The subject's tag and the generation of the consent term `answer` (an ALLOW) belongs to,
        begun now if the stored one belongs to an ended term or there is none."""
        tag = self._tagger.tag(subject_id, controller_id)
        for _ in range(MAX_ATTEMPTS):
            current = await self._read(tag, purpose_id)
            if current is not None and current.serves(answer):
                return tag, current
            if current is not None and not current.replaceable_by(answer):
                raise errors.ConsentChanged(purpose_id)  # the answer predates the stored generation
            begun = await self._begin(tag, controller_id, subject_id, purpose_id, current, answer)
            if begun is not None:
                return tag, begun
        raise errors.ConsentChanged(purpose_id)

    async def for_open(self, controller_id: str, subject_id: str, purpose_id: str, answer: ConsentAnswer,
                       number: int | None) -> tuple[str, Generation | None]:
        """The generation a wrapped key names, if it still serves the consent `answer` (an ALLOW) is
        about; KeyGenerationRetired otherwise. A key wrapped before generations (no number) opens only
        while the consent has never ended, and then there is no generation to unseal."""
        tag = self._tagger.tag(subject_id, controller_id)
        current = await self._read(tag, purpose_id)
        if number is None:
            if answer.lapses == 0 and (current is None or (current.number == 1 and current.serves(answer))):
                return tag, None
        elif current is None or number > current.number:
            raise errors.WrongKeyMaterial("wrapped_key")  # no such generation was ever issued
        elif number == current.number and current.serves(answer):
            return tag, current
        if current is not None and current.ended_by(answer):  # found out here first: destroy it now
            await self._retire(tag, controller_id, subject_id, purpose_id, current, answer.lapses)
        elif current is not None and current.lapses > answer.lapses:
            raise errors.ConsentChanged(purpose_id)  # the answer predates the stored generation
        raise errors.KeyGenerationRetired(purpose_id)

    async def retire_ended(self, controller_id: str, subject_id: str, purpose_id: str, answer: ConsentAnswer) -> int:
        """Destroys the current generation's secret if `answer` shows its consent has ended; returns
        the generation retired, or 0."""
        tag = self._tagger.tag(subject_id, controller_id)
        async with self._uow.autocommit() as store:
            current = await store.get(tag, purpose_id)
        if current is None or not current.ended_by(answer):
            return 0
        retired = await self._retire(tag, controller_id, subject_id, purpose_id, current, answer.lapses)
        return current.number if retired else 0

    async def retire_quietly(self, controller_id: str, subject_id: str, purpose_id: str,
                             answer: ConsentAnswer) -> None:
        """For a release refused because the consent ended: the refusal stands whatever happens here,
        and dsr's withdrawal request retires the generation if this could not."""
        try:
            await self.retire_ended(controller_id, subject_id, purpose_id, answer)
        except STORE_FAILURES as exc:
            log.warning("key generation not retired; left to the withdrawal request", error=str(exc))

    async def forget(self, controller_id: str, subject_id: str) -> int:
        """A subject's erasure: every generation of theirs at the controller goes (each replica's cache
        by the trigger); the same person's at another controller stay."""
        async with self._uow.autocommit() as store:
            return await store.delete_subject(self._tagger.tag(subject_id, controller_id))

    async def _read(self, tag: str, purpose_id: str) -> Generation | None:
        key = cache_key(tag, purpose_id)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        epoch = self.cache.epoch
        async with self._uow.autocommit() as store:
            current = await store.get(tag, purpose_id)
        if current is not None and current.secret is not None:
            self.cache.put(epoch, key, current)
        return current

    async def _begin(self, tag: str, controller_id: str, subject_id: str, purpose_id: str,
                     after: Generation | None, answer: ConsentAnswer) -> Generation | None:
        async with self._uow() as uow:
            begun = await uow.store.begin(tag, purpose_id, after, answer.consent_id, answer.lapses, crypto.new_key())
            if begun is not None and after is not None and after.secret is not None:  # its secret was overwritten
                uow.emit(ev.PurposeKeysRetired(subject_id, purpose_id, after.number, after.consent_id, controller_id))
            await uow.commit()
        self.cache.purge(cache_key(tag, purpose_id))
        return begun

    async def _retire(self, tag: str, controller_id: str, subject_id: str, purpose_id: str, current: Generation,
                      lapses: int) -> bool:
        async with self._uow() as uow:
            retired = await uow.store.retire(tag, purpose_id, current.number, lapses)
            if retired:
                uow.emit(ev.PurposeKeysRetired(subject_id, purpose_id, current.number, current.consent_id,
                                               controller_id))
            await uow.commit()
        self.cache.purge(cache_key(tag, purpose_id))
        return retired
