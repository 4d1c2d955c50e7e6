"""Edge validation of dsr requests: each bad field named; nothing is recorded for a bad request. The
controller a request about a subject acts in is settled here too (services/common/auth.py): a
controller's client its own, an operator the one it must name."""

import re

from consentry.dsr.v1 import dsr_admin_pb2 as admin_pb
from consentry.dsr.v1 import dsr_pb2 as pb
from services.common import auth
from services.common.topics import PROCESSOR_NAME
from services.common.validation import JURISDICTION, FieldViolation, InvalidArgument, Validator
from services.dsr.domain.model import Rejection, RequestType, Status
from services.dsr.service.queries import RequestFilter
from services.dsr.service.requests import Submission

DEFAULT_PAGE, MAX_PAGE = 100, 500
MAX_CORRECTIONS = 50
MAX_PURPOSES = 100
MAX_TASKS = 1000
CAPABILITIES = {pb.CAPABILITY_ACCESS: "access", pb.CAPABILITY_DELETE: "delete", pb.CAPABILITY_CORRECT: "correct"}
REJECTION_CODE = re.compile(r"^[a-z][a-z0-9-]{1,63}$")


def submit(req: pb.SubmitRequestRequest) -> Submission:
    v = Validator()
    v.enum("type", req.type, [t.value for t in RequestType])
    v.identifier("subject_id", req.subject_id)
    v.matches("jurisdiction", req.jurisdiction, JURISDICTION, 'an ISO 3166 code, e.g. "CN", "DE", "US-CA"')
    v.identifier("evidence.method", req.evidence.method)
    v.text("evidence.reference", req.evidence.reference, max_len=500)
    if req.type == pb.REQUEST_TYPE_WITHDRAWAL:
        v.identifier("purpose_id", req.purpose_id)
    else:
        v.optional_identifier("purpose_id", req.purpose_id)
    if req.type == pb.REQUEST_TYPE_CORRECTION:
        v.check(bool(req.corrections), "corrections", "map.min_pairs", "a correction names what to correct")
    else:
        v.check(not req.corrections, "corrections", "corrections.only_for_correction",
                "only a CORRECTION request carries corrections")
    v.count("corrections", req.corrections, most=MAX_CORRECTIONS)
    for key, value in list(req.corrections.items())[:MAX_CORRECTIONS]:
        v.identifier(f"corrections[{key!r}]", key)
        v.text(f"corrections[{key!r}]", value, max_len=1000)
    v.text("details", req.details, max_len=4000, required=False)
    v.identifier("idempotency_key", req.idempotency_key)
    controller = auth.acting_controller(req.controller_id, v)
    v.done()
    client = auth.current_client()
    return Submission(RequestType(req.type), req.subject_id, req.jurisdiction, req.evidence.method,
                      req.evidence.reference, req.purpose_id, dict(req.corrections), req.details,
                      verified_by=client.client_id if client.verifies_identity else "", controller_id=controller)


def request_id(value: str, v: Validator | None = None) -> str:
    own = v is None
    v = v or Validator()
    v.identifier("request_id", value)
    if own:
        v.done()
    return value


def verify_identity(req: pb.VerifyIdentityRequest) -> None:
    v = Validator()
    request_id(req.request_id, v)
    v.text("note", req.note, max_len=2000, required=not req.verified)
    v.identifier("idempotency_key", req.idempotency_key)
    v.done()


def acknowledge(req: pb.AcknowledgeRequestRequest) -> None:
    v = Validator()
    request_id(req.request_id, v)
    v.identifier("idempotency_key", req.idempotency_key)
    v.done()


def release_export(req: pb.ReleaseExportRequest) -> None:
    v = Validator()
    request_id(req.request_id, v)
    v.text("note", req.note, max_len=2000, required=False)
    v.identifier("idempotency_key", req.idempotency_key)
    v.done()


def extend(req: pb.ExtendDeadlineRequest) -> None:
    v = Validator()
    request_id(req.request_id, v)
    v.text("reason", req.reason, max_len=2000)
    v.identifier("idempotency_key", req.idempotency_key)
    v.done()


def reject(req: pb.RejectRequestRequest) -> Rejection:
    v = Validator()
    request_id(req.request_id, v)
    v.matches("reason.code", req.reason.code, REJECTION_CODE, 'a code such as "manifestly-unfounded"')
    v.text("reason.explanation", req.reason.explanation, max_len=4000)
    v.text("reason.complaint_route", req.reason.complaint_route, max_len=1000)
    v.identifier("idempotency_key", req.idempotency_key)
    v.done()
    return Rejection(req.reason.code, req.reason.explanation, req.reason.complaint_route)


def list_requests(req: pb.ListRequestsRequest) -> tuple[RequestFilter, int]:
    """The filter and the page size; the page token itself is checked against the filter where tokens
    are read (queries)."""
    v = Validator()
    if req.status:
        v.enum("status", req.status, [s.value for s in Status])
    v.optional_identifier("subject_id", req.subject_id)
    if req.type:
        v.enum("type", req.type, [t.value for t in RequestType])
    if req.jurisdiction:
        v.matches("jurisdiction", req.jurisdiction, JURISDICTION, 'an ISO 3166 code, e.g. "CN", "DE", "US-CA"')
    if req.processor:
        v.matches("processor", req.processor, PROCESSOR_NAME, "a processor's name")
    v.check(req.due_within_days <= 3660, "due_within_days", "uint32.lte", "at most 3660 days")
    size = v.page(req.page_size, req.page_token, default=DEFAULT_PAGE, most=MAX_PAGE)
    # A subject is a subject of one controller: an operator filtering by one names the controller.
    controller = (auth.acting_controller(req.controller_id, v) if req.subject_id
                  else auth.controller_scope(req.controller_id, v))
    v.done()
    return RequestFilter(Status(req.status) if req.status else None, req.overdue_only, req.due_within_days,
                         req.subject_id, controller, RequestType(req.type) if req.type else None, req.jurisdiction,
                         req.processor, req.verified_only), size


def register_processor(req: pb.RegisterProcessorRequest) -> tuple[frozenset[str], frozenset[str]]:
    """Capabilities and purposes; the name is the caller's (checked by the servicer)."""
    v = Validator()
    v.optional_identifier("name", req.name)
    v.count("capabilities", req.capabilities, least=1, most=len(CAPABILITIES))
    for i, c in enumerate(req.capabilities[:len(CAPABILITIES)]):
        v.enum(f"capabilities[{i}]", c, list(CAPABILITIES))
    v.count("purpose_ids", req.purpose_ids, most=MAX_PURPOSES)
    for i, p in enumerate(req.purpose_ids[:MAX_PURPOSES]):
        v.identifier(f"purpose_ids[{i}]", p)
    v.done()
    return frozenset(CAPABILITIES[c] for c in req.capabilities), frozenset(req.purpose_ids)


def list_processors(req: pb.ListProcessorsRequest) -> tuple[int, str | None]:
    """The page size and the controller listed (None: every one); the token itself is checked where
    tokens are read (Processors.listed)."""
    v = Validator()
    size = v.page(req.page_size, req.page_token, default=DEFAULT_PAGE, most=MAX_PAGE)
    controller = auth.controller_scope(req.controller_id, v)
    v.done()
    return size, controller


def deregister_processor(req: admin_pb.DeregisterProcessorRequest) -> None:
    v = Validator()
    v.identifier("name", req.name)
    v.text("reason", req.reason, max_len=1000)
    v.identifier("idempotency_key", req.idempotency_key)
    v.done()


def confirm_tasks(req: pb.ConfirmTasksRequest) -> list[str]:
    v = Validator()
    v.count("task_ids", req.task_ids, least=1, most=MAX_TASKS)
    for i, task_id in enumerate(req.task_ids[:MAX_TASKS]):
        v.identifier(f"task_ids[{i}]", task_id)
    v.done()
    return list(req.task_ids)


def no_such_purpose(field: str = "purpose_id") -> InvalidArgument:
    return InvalidArgument([FieldViolation(field, "purpose.exists", "no such purpose")])
