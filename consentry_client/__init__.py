"""The Python client library of Consentry for face systems, built only on the public protos.

    from consentry_client import ConsentGate, TemplateCipher, DsrProcessor, connect

    consent = connect("consent.example:443", ca="ca.crt", cert="door.crt", key="door.key")
    keyvault = connect("keyvault.example:443", ca="ca.crt", cert="door.crt", key="door.key")

    gate = ConsentGate(consent)
    await gate.ensure_allowed(subject_id, purpose_id)        # raises ConsentRefused; no answer is a no
    cipher = TemplateCipher(keyvault)
    blob = await cipher.seal(subject_id, purpose_id, template)  # store the blob; DeviceStorageOnly: not here
    template = await cipher.open(subject_id, purpose_id, blob)  # TemplateRetired: consent ended since; re-enrol

A gate that opens templates all day keeps released keys in memory while they may be used, dropping
each the moment its consent or key changes, and answering nothing from memory when it cannot know:

    async with EdgeView(consent, keyvault) as edge:
        cipher = TemplateCipher(keyvault, edge=edge)

    class DoorProcessor(DsrProcessor):
        async def handle_delete(self, task):
            removed = await templates.delete(task.subject_id, task.purpose_id or None)
            return f"deleted {removed} templates"

    kafka = kafka_options("kafka:9093", ca="ca.crt", cert="door.crt", key="door.key")
    dsr = connect("dsr.example:443", ca="ca.crt", cert="door.crt", key="door.key")
    await DoorProcessor("door-app", kafka, dsr, enable_idempotence=True).run()  # "door-app": door.crt's name

Lists come a page at a time; `items` (and `whole`, every page as one answer) follow them to the end:

    from consentry_client import items
    purposes = [p async for p in items(ConsentServiceStub(consent).ListPurposes, ListPurposesRequest(), "purposes")]

A DPO checks an audit export offline, with nothing but the audit log's public key:

    from consentry_client.audit_verify import verify_export
    verdict = verify_export(open("alice.jsonl").read().splitlines(), open("audit.pem").read())
"""

from importlib import import_module
from typing import TYPE_CHECKING

# Bound now: the function `pages` shares its module's name, which the import system would otherwise
# bind here once any module imports consentry_client.pages (the module needs only the stdlib).
from consentry_client.pages import items, pages, whole

# Every other name is imported when first asked for: a program that needs only `connect` does not
# load the Kafka client, nor every module here (the CLI starts faster for it).
_WHERE = {
    "TemplateCipher": "cipher", "EdgeView": "edge",
    **dict.fromkeys(("ConsentRefused", "ConsentryClientError", "CorruptTemplate", "DeviceStorageOnly", "SubjectErased",
                     "TemplateRetired", "UseNotRecorded", "error_info"), "errors"),
    **dict.fromkeys(("ConsentGate", "Decision", "connect"), "gate"),
    **dict.fromkeys(("InMemoryTaskJournal", "TaskJournal"), "journal"),
    "kafka_options": "kafka",
    **dict.fromkeys(("DsrProcessor", "TaskAction", "TaskFailed"), "processor"),
}
__all__ = [
    "ConsentGate", "ConsentRefused", "ConsentryClientError", "CorruptTemplate", "Decision", "DeviceStorageOnly",
    "DsrProcessor", "EdgeView", "UseNotRecorded",
    "InMemoryTaskJournal", "SubjectErased", "TaskAction", "TaskFailed", "TaskJournal", "TemplateCipher", "TemplateRetired",
    "connect", "error_info", "items", "kafka_options", "pages", "whole",
]


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'consentry_client' has no attribute {name!r}")
    value = getattr(import_module(f"consentry_client.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})


if TYPE_CHECKING:
    from consentry_client.cipher import TemplateCipher
    from consentry_client.edge import EdgeView
    from consentry_client.errors import (
        ConsentRefused, ConsentryClientError, CorruptTemplate, DeviceStorageOnly, SubjectErased, TemplateRetired,
        UseNotRecorded, error_info,
    )
    from consentry_client.gate import ConsentGate, Decision, connect
    from consentry_client.journal import InMemoryTaskJournal, TaskJournal
    from consentry_client.kafka import kafka_options
    from consentry_client.processor import DsrProcessor, TaskAction, TaskFailed
