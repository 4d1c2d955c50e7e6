"""DsrService over gRPC: proto <-> domain mapping only. The operator's DeregisterProcessor is
DsrAdminService's, in admin_servicer. Every call reads in the caller's scope: a controller's client
its controller's requests and processors only, an operator every controller's."""

import json
from collections.abc import Awaitable, Callable

from consentry.dsr.v1 import dsr_pb2 as pb
from consentry.dsr.v1 import dsr_pb2_grpc

from services.common import auth
from services.common.idempotent_rpc import key_of
from services.common.timestamps import to_timestamp
from services.common.topics import PROCESSOR_NAME
from services.dsr.api import validation as valid
from services.dsr.api.stored_answers import CAPABILITY_NUMBERS
from services.dsr.domain import errors
from services.dsr.domain.export_pages import LANGUAGES, render
from services.dsr.domain.model import Processor, Request, Task, TaskState
from services.dsr.events.payloads import task_message
from services.dsr.service.processors import Processors
from services.dsr.service.queries import RequestQueries
from services.dsr.service.requests import RequestService

TASK_STATES = {TaskState.PENDING: pb.TASK_STATE_PENDING, TaskState.SENT: pb.TASK_STATE_SENT,
               TaskState.CONFIRMED: pb.TASK_STATE_CONFIRMED, TaskState.FAILED: pb.TASK_STATE_FAILED}


def _scope() -> str | None:
    """The caller's controller; None for an operator, who sees every controller's."""
    grant = auth.current_client()
    return None if grant.is_operator else grant.controller_id


class DsrServicer(dsr_pb2_grpc.DsrServiceServicer):
    def __init__(self, requests: RequestService, queries: RequestQueries, processors: Processors,
                 has_purpose: Callable[[str, str], Awaitable[bool]], on_verified) -> None:
        """`has_purpose(controller, purpose)`: whether the controller has a purpose of that id."""
        self._requests, self._queries, self._processors = requests, queries, processors
        self._has_purpose, self._on_verified = has_purpose, on_verified

    async def _full(self, r: Request) -> pb.Request:
        return (await self._described([r]))[0]

    async def _described(self, requests: list[Request]) -> list[pb.Request]:
        tasks = await self._queries.tasks(requests)
        return [_request_message(r, tasks.get(r.request_id, []), self._requests.why_not_extendable(r) is None)
                for r in requests]

    async def SubmitRequest(self, request, context):
        submission = valid.submit(request)
        # A request for a purpose nobody defined would be "carried out" by no processor at all; another
        # controller's purpose is no purpose of this subject's.
        if submission.purpose_id and not await self._has_purpose(submission.controller_id, submission.purpose_id):
            raise valid.no_such_purpose()
        r = await self._requests.submit(submission, key_of("SubmitRequest", request))
        if submission.verified_by:
            self._on_verified()
        return pb.SubmitRequestResponse(request=await self._full(r))

    async def VerifyIdentity(self, request, context):
        valid.verify_identity(request)
        r = await self._requests.verify_identity(request.request_id, request.verified, request.note,
                                                 key_of("VerifyIdentity", request), _scope())
        self._on_verified()
        return pb.VerifyIdentityResponse(request=await self._full(r))

    async def AcknowledgeRequest(self, request, context):
        valid.acknowledge(request)
        r = await self._requests.acknowledge(request.request_id, key_of("AcknowledgeRequest", request), _scope())
        return pb.AcknowledgeRequestResponse(request=await self._full(r))

    async def GetRequest(self, request, context):
        r = await self._requests.get(valid.request_id(request.request_id), _scope())
        return pb.GetRequestResponse(request=await self._full(r))

    async def ListRequests(self, request, context):
        where, size = valid.list_requests(request)
        found, token = await self._queries.find(where, size, request.page_token)
        return pb.ListRequestsResponse(requests=await self._described(found), next_page_token=token)

    async def ExtendDeadline(self, request, context):
        valid.extend(request)
        r = await self._requests.extend(request.request_id, request.reason, key_of("ExtendDeadline", request),
                                        _scope())
        return pb.ExtendDeadlineResponse(request=await self._full(r))

    async def RejectRequest(self, request, context):
        rejection = valid.reject(request)
        r = await self._requests.reject(request.request_id, rejection, key_of("RejectRequest", request), _scope())
        return pb.RejectRequestResponse(request=await self._full(r))

    async def GetExport(self, request, context):
        # A client acting for the person gets the export once staff reviewed and released it.
        export = await self._queries.export(valid.request_id(request.request_id), _scope(),
                                            released_only=auth.current_client().verifies_identity)
        document = json.loads(export)
        return pb.GetExportResponse(export_json=export,
                                    html={language: render(document, language) for language in LANGUAGES})

    async def ReleaseExport(self, request, context):
        valid.release_export(request)
        r = await self._requests.release_export(request.request_id, request.note, key_of("ReleaseExport", request),
                                                _scope())
        return pb.ReleaseExportResponse(request=await self._full(r))

    async def RegisterProcessor(self, request, context):
        capabilities, purposes = valid.register_processor(request)
        grant = auth.current_client()
        name = grant.client_id
        if request.name and request.name != name:
            raise auth.PermissionDenied("PROCESSOR_NOT_CALLER",
                                        f"client '{name}' may register only itself, not '{request.name}'")
        if not PROCESSOR_NAME.fullmatch(name):
            raise errors.NotAProcessorName(name)
        # A processor serves the subjects of one controller, its client's: an operator has none, and
        # a processor serving every controller would be sent every controller's people.
        if grant.is_operator or not grant.controller_id:
            raise errors.NotAControllersClient(name)
        for purpose_id in sorted(purposes):  # it may hold only data of purposes it is granted
            auth.require_purpose(purpose_id)
        p = await self._processors.register(Processor(name, capabilities, purposes, controller_id=grant.controller_id))
        return pb.RegisterProcessorResponse(processor=processor_to_pb(p))

    async def ListProcessors(self, request, context):
        size, scope = valid.list_processors(request)
        found, token = await self._processors.listed(size, request.page_token, scope)
        return pb.ListProcessorsResponse(processors=[processor_to_pb(p) for p in found], next_page_token=token)

    async def ConfirmTasks(self, request, context):
        task_ids = valid.confirm_tasks(request)
        grant = auth.current_client()
        # An operator's identity is no processor's (RegisterProcessor refuses it): it has no tasks.
        mine = [] if grant.is_operator else await self._processors.confirm(grant.client_id, grant.controller_id,
                                                                          task_ids)
        return pb.ConfirmTasksResponse(tasks=[task_message(t, r) for t, r in mine])


def processor_to_pb(p: Processor) -> pb.Processor:
    return pb.Processor(name=p.name, capabilities=sorted(CAPABILITY_NUMBERS[c] for c in p.capabilities),
                        purpose_ids=sorted(p.purpose_ids), registered_at=to_timestamp(p.registered_at),
                        controller_id=p.controller_id)


def _request_message(r: Request, tasks: list[Task], extendable: bool) -> pb.Request:
    return pb.Request(
        request_id=r.request_id, type=r.type.value, subject_id=r.subject_id, jurisdiction=r.jurisdiction,
        controller_id=r.controller_id, evidence=pb.IdentityEvidence(method=r.evidence_method, reference=r.evidence_ref),
        extendable=extendable,
        status=r.status.value, purpose_id=r.purpose_id, received_at=to_timestamp(r.received_at),
        due_at=to_timestamp(r.due_at), acknowledgement_due_at=to_timestamp(r.acknowledgement_due_at),
        acknowledged_at=to_timestamp(r.acknowledged_at), export_released_at=to_timestamp(r.export_released_at),
        extended=r.extended, extension_reason=r.extension_reason,
        status_reason=r.status_reason, deletion_certificate=r.certificate,
        deletion_certificate_signature=r.certificate_signature,
        rejection=pb.RejectionReason(code=r.rejection.code, explanation=r.rejection.explanation,
                                     complaint_route=r.rejection.complaint_route) if r.rejection else None,
        tasks=[pb.TaskStatus(task_id=t.task_id, processor=t.processor, task_state=TASK_STATES[t.state],
                             attempts=t.attempts, reason=t.reason, confirmed_at=to_timestamp(t.confirmed_at))
               for t in tasks],
        timeline=[pb.TimelineEntry(at=to_timestamp(e.at), status=e.status.value, note=e.note) for e in r.timeline])
