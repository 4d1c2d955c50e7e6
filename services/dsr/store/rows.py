"""Rows of the dsr store <-> domain objects."""

import json
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from services.dsr.domain.model import Processor, Rejection, Request, RequestType, Status, Task, TaskState, TimelineEntry

REQUEST_COLUMNS = ("request_id, type, subject_id, jurisdiction, status, received_at, due_at, purpose_id,"
                    " corrections, details, evidence_method, evidence_ref, extended, extension_reason,"
                    " status_reason, rejection_code, rejection_explanation, complaint_route, certificate,"
                    " certificate_signature, automatic, starting_until, starting_by, timeline, acknowledgement_due_at,"
                    " acknowledged_at, controller_id, export_released_at")


def entries_json(entries: Sequence[TimelineEntry]) -> str:
    return json.dumps([{"at": e.at.isoformat(), "status": e.status.value, "note": e.note} for e in entries])


def timeline_from(value: str) -> list[TimelineEntry]:
    return [TimelineEntry(datetime.fromisoformat(e["at"]), Status(e["status"]), e["note"]) for e in json.loads(value)]


def request_from_row(row: asyncpg.Record, default_controller: str) -> Request:
    """`default_controller`: whose a request from before controllers (controller_id NULL) is."""
    rejection = (Rejection(row["rejection_code"], row["rejection_explanation"], row["complaint_route"])
                 if row["rejection_code"] else None)
    return Request(row["request_id"], RequestType(row["type"]), row["subject_id"], row["jurisdiction"],
                   Status(row["status"]), row["received_at"], row["due_at"], row["purpose_id"],
                   json.loads(row["corrections"]), row["details"], row["evidence_method"], row["evidence_ref"],
                   row["extended"], row["extension_reason"], row["status_reason"], rejection,
                   bytes(row["certificate"]), bytes(row["certificate_signature"]), row["automatic"],
                   row["starting_until"], row["starting_by"], timeline_from(row["timeline"]),
                   row["acknowledgement_due_at"], row["acknowledged_at"],
                   controller_id=row["controller_id"] or default_controller,
                   export_released_at=row["export_released_at"])


def processor_from_row(row: asyncpg.Record, default_controller: str) -> Processor:
    return Processor(row["name"], frozenset(row["capabilities"]), frozenset(row["purpose_ids"]), row["registered_at"],
                     row["controller_id"] or default_controller)


def task_from_row(row: asyncpg.Record) -> Task:
    return Task(row["task_id"], row["request_id"], row["processor"], row["action"], TaskState(row["state"]),
                row["attempts"], row["reason"], row["next_attempt_at"], row["confirmed_at"], bytes(row["data_json"]),
                row["result_key"])


def request_values(r: Request) -> tuple:
    return (r.request_id, r.type.value, r.subject_id, r.jurisdiction, r.status.value, r.received_at, r.due_at,
            r.purpose_id, json.dumps(r.corrections), r.details, r.evidence_method, r.evidence_ref, r.extended,
            r.extension_reason, r.status_reason, r.rejection.code if r.rejection else None,
            r.rejection.explanation if r.rejection else None,
            r.rejection.complaint_route if r.rejection else None, r.certificate, r.certificate_signature,
            r.automatic, r.starting_until, r.starting_by)
