"""The records a regulator asks for, as CSV: the register of requests and the record of processing
activities (PIPL 54-55, GDPR Art. 30). UTF-8 with a byte-order mark, so a spreadsheet reads Chinese right;
a cell that a spreadsheet would take for a formula is written as text."""

import csv
import io
from collections.abc import Iterable

from services.portal.domain.cases import StaffCase
from services.portal.domain.purposes import StaffPurpose
from services.portal.domain.statistics import days_to_respond, finished_at

REQUEST_COLUMNS = ("request_id", "controller_id", "type", "status", "jurisdiction", "purpose_id", "received_at",
                   "due_at", "extended", "extension_reason", "finished_at", "answered_on_time", "days_to_answer",
                   "rejection_code", "processors")
PROCESSING_COLUMNS = ("controller_id", "purpose_id", "name", "description", "data_categories", "storage_location",
                      "retention_days", "legal_basis", "recipients", "non_face_alternative", "minimum_age",
                      "pia_reference", "withdrawal_method", "notice_version", "registered_at")
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    text = "" if value is None else value.isoformat() if hasattr(value, "isoformat") else str(value)
    return "'" + text if text.startswith(_FORMULA) else text


def _csv(header: tuple[str, ...], rows: Iterable[tuple]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([_cell(v) for v in row] for row in rows)
    return "\ufeff" + out.getvalue()


def requests_csv(cases: Iterable[StaffCase]) -> str:
    def row(c: StaffCase) -> tuple:
        done, days = finished_at(c), days_to_respond(c)
        return (c.request_id, c.controller_id, c.kind.value, c.stage.value, c.jurisdiction, c.purpose_id,
                c.received_at, c.due_at, c.extended, c.extension_reason, done,
                "" if done is None else done <= c.due_at, "" if days is None else round(days, 1),
                c.rejection.code if c.rejection else "", " ".join(f"{t.processor}:{t.state}" for t in c.tasks))
    return _csv(REQUEST_COLUMNS, map(row, cases))


def processing_csv(purposes: Iterable[StaffPurpose]) -> str:
    return _csv(PROCESSING_COLUMNS, ((
        p.terms.controller_id, p.terms.purpose_id, p.terms.name, p.terms.description, " ".join(p.terms.data_categories),
        p.terms.storage_location, p.terms.retention_days, p.terms.legal_basis, " ".join(p.terms.recipients),
        p.terms.non_face_alternative, p.terms.minimum_age, p.terms.pia_reference, p.terms.withdrawal_method,
        p.current_notice_version, p.created_at) for p in purposes))
