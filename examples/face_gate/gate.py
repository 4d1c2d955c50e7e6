"""The face gate's own work, on the client library only: enrol a face after a positive consent
check, encrypted under the person's data key; match a probe against the stored template; and, as a
registered processor, delete, show or correct what it holds when a data-subject request says so."""

import hmac

from consentry.dsr.v1.tasks_pb2 import DsrTask
from consentry_client import ConsentGate, DsrProcessor, TaskFailed, TemplateCipher, TemplateRetired
from examples.face_gate.store import FaceStore


class FaceGate:
    def __init__(self, store: FaceStore, consent: ConsentGate, cipher: TemplateCipher) -> None:
        self.store, self._consent, self._cipher = store, consent, cipher

    async def enrol(self, subject_id: str, purpose_id: str, template: bytes, display_name: str = "") -> None:
        """Raises ConsentRefused without consent: nothing is stored."""
        await self._consent.ensure_allowed(subject_id, purpose_id)
        blob = await self._cipher.seal(subject_id, purpose_id, template)
        await self.store.enrol(subject_id, purpose_id, blob, display_name)

    async def matches(self, subject_id: str, purpose_id: str, probe: bytes) -> bool:
        """A stand-in for a real matcher: the probe equals the enrolled template. A template sealed under
        a consent that ended since can never open again: it is dropped, and the person enrols anew."""
        blob = await self.store.template(subject_id, purpose_id)
        if blob is None:
            return False
        await self._consent.ensure_allowed(subject_id, purpose_id)
        try:
            template = await self._cipher.open(subject_id, purpose_id, blob)
        except TemplateRetired:
            await self.store.delete(subject_id, purpose_id)
            return False
        return hmac.compare_digest(template, probe)


class FaceGateProcessor(DsrProcessor):
    def __init__(self, name: str, kafka: dict, dsr, store: FaceStore, **options) -> None:
        super().__init__(name, kafka, dsr, journal=store, **options)
        self._store = store

    async def handle_delete(self, task: DsrTask) -> str:
        removed = await self._store.delete(task.subject_id, task.purpose_id or None)
        scope = f"purpose {task.purpose_id}" if task.purpose_id else "every purpose"
        return f"deleted {removed} template(s) for {scope}"

    async def handle_access(self, task: DsrTask) -> dict:
        return await self._store.record_of(task.subject_id)

    async def handle_correct(self, task: DsrTask) -> str:
        applied = await self._store.correct(task.subject_id, dict(task.corrections))
        if not applied:
            raise TaskFailed(f"nothing correctable among {sorted(task.corrections)}")
        return f"corrected {', '.join(applied)}"
