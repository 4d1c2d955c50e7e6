"""The platform as the console calls it: dsr and audit over mTLS with the console's own identity
("console", an operator whose policy entry says `records_staff_actions = true`). It serves every
controller; which one a call may reach is the console's to decide (service/console.py), from the
signed-in account, never from a form."""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import grpc
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from consentry.audit.v1 import audit_pb2, audit_pb2_grpc
from consentry.consent.v1 import consent_pb2, consent_pb2_grpc
from consentry.dsr.v1 import dsr_pb2, dsr_pb2_grpc
from consentry_client.pages import items
from services.portal.domain.audit_log import Completeness, EntryQuery, Filing, ProvenEntry
from services.portal.domain.purposes import PublishedNotice, PurposeTerms, StaffPurpose
from services.portal.domain.cases import Event, ProcessorTask, QueueFilter, StaffCase
from services.portal.domain.requests import Rejection, Stage
from services.portal.domain.staff import StaffAccount
from services.portal.store.platform import KINDS, TIMEOUT_S, call_platform

_TYPES = {kind: number for number, kind in KINDS.items()}


def _stage(status: int) -> Stage:
    return Stage[dsr_pb2.RequestStatus.Name(status).removeprefix("REQUEST_STATUS_")]


def _status(stage: Stage) -> int:
    return dsr_pb2.RequestStatus.Value("REQUEST_STATUS_" + stage.name)


def _when(t: Timestamp) -> datetime:
    return t.ToDatetime(tzinfo=UTC)


def _case(r: dsr_pb2.Request) -> StaffCase:
    return StaffCase(
        r.request_id, r.controller_id, r.subject_id, KINDS[r.type], _stage(r.status), r.jurisdiction, r.purpose_id,
        _when(r.received_at), _when(r.due_at), r.extended, r.extension_reason, r.status_reason, r.evidence.method,
        r.evidence.reference,
        _when(r.acknowledgement_due_at) if r.HasField("acknowledgement_due_at") else None,
        _when(r.acknowledged_at) if r.HasField("acknowledged_at") else None,
        tuple(Event(_when(t.at), _stage(t.status), t.note) for t in r.timeline),
        tuple(ProcessorTask(t.processor, dsr_pb2.TaskState.Name(t.task_state).removeprefix("TASK_STATE_").lower(),
                            t.attempts, t.reason, _when(t.confirmed_at) if t.HasField("confirmed_at") else None)
              for t in r.tasks),
        Rejection(r.rejection.code, r.rejection.explanation, r.rejection.complaint_route)
        if r.HasField("rejection") else None, r.extendable,
        _when(r.export_released_at) if r.HasField("export_released_at") else None)


def _name(enum, number: int, prefix: str) -> str:
    return enum.Name(number).removeprefix(prefix).lower()


def _purpose(p: consent_pb2.Purpose, notices=()) -> StaffPurpose:
    terms = PurposeTerms(
        p.purpose_id, p.controller_id, p.name, p.description,
        tuple(_name(consent_pb2.DataCategory, c, "DATA_CATEGORY_") for c in p.data_categories),
        _name(consent_pb2.StorageLocation, p.storage_location, "STORAGE_LOCATION_"), p.retention.seconds // 86400,
        _name(consent_pb2.LegalBasis, p.legal_basis, "LEGAL_BASIS_"), p.non_face_alternative, p.minimum_age,
        p.pia_reference, tuple(p.recipients), p.withdrawal_method)
    return StaffPurpose(terms, p.current_notice_version, _when(p.created_at), tuple(
        PublishedNotice(n.version, n.language, n.text, n.content_hash, n.material_change, _when(n.published_at))
        for n in notices))


def _purpose_message(t: PurposeTerms) -> consent_pb2.Purpose:
    return consent_pb2.Purpose(
        purpose_id=t.purpose_id, controller_id=t.controller_id, name=t.name, description=t.description,
        data_categories=[consent_pb2.DataCategory.Value("DATA_CATEGORY_" + c.upper()) for c in t.data_categories],
        storage_location=consent_pb2.StorageLocation.Value("STORAGE_LOCATION_" + t.storage_location.upper()),
        retention=Duration(seconds=t.retention_days * 86400),
        legal_basis=consent_pb2.LegalBasis.Value("LEGAL_BASIS_" + t.legal_basis.upper()),
        non_face_alternative=t.non_face_alternative, minimum_age=t.minimum_age, pia_reference=t.pia_reference,
        recipients=list(t.recipients), withdrawal_method=t.withdrawal_method)


def _filter(where: EntryQuery) -> audit_pb2.EventFilter:
    found = audit_pb2.EventFilter(type=where.event_type, producer=where.producer, subject_id=where.subject_id,
                                  subject_ref=where.subject_ref, controller_id=where.controller_id)
    if where.occurred_from:
        found.occurred_from.FromDatetime(where.occurred_from)
    if where.occurred_until:
        found.occurred_until.FromDatetime(where.occurred_until)
    return found


class ConsolePlatform:
    def __init__(self, consent_address: str, dsr_address: str, audit_address: str, ca: bytes, cert: bytes,
                 key: bytes) -> None:
        credentials = grpc.ssl_channel_credentials(ca, key, cert)
        self._channels = [grpc.aio.secure_channel(address, credentials)
                          for address in (consent_address, dsr_address, audit_address)]
        self._consent = consent_pb2_grpc.ConsentServiceStub(self._channels[0])
        self._dsr = dsr_pb2_grpc.DsrServiceStub(self._channels[1])
        self._audit = audit_pb2_grpc.AuditServiceStub(self._channels[2])

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close()

    # What staff did, recorded in the audit log before it is done

    async def record(self, account: StaffAccount, action: str, controller_id: str, subject_id: str = "",
                     **details: str) -> None:
        """Appends "console.<action>" naming the account; a failure here stops the action (nothing is done
        that the log does not name its doer for)."""
        now = Timestamp()
        now.GetCurrentTime()
        event = audit_pb2.FaceSystemEvent(
            event_id=str(uuid.uuid4()), type=f"console.{action}", subject_id=subject_id, occurred_at=now,
            attributes={"actor": account.name, "role": account.role.value, **{k: v for k, v in details.items() if v}})
        await call_platform(self._audit.Append(audit_pb2.AppendRequest(events=[event], controller_id=controller_id),
                                               timeout=TIMEOUT_S))

    # Requests

    async def queue(self, where: QueueFilter, page_size: int, page_token: str) -> tuple[list[StaffCase], str]:
        answer = await call_platform(self._dsr.ListRequests(dsr_pb2.ListRequestsRequest(
            status=_status(where.stage) if where.stage else 0, overdue_only=where.overdue_only,
            due_within_days=where.due_within_days, page_size=page_size, page_token=page_token,
            controller_id=where.controller_id, type=_TYPES[where.kind] if where.kind else 0,
            jurisdiction=where.jurisdiction, processor=where.processor,
            verified_only=not (where.with_unverified or where.stage)), timeout=TIMEOUT_S))
        return [_case(r) for r in answer.requests], answer.next_page_token

    async def case(self, request_id: str) -> StaffCase:
        return _case((await call_platform(self._dsr.GetRequest(
            dsr_pb2.GetRequestRequest(request_id=request_id), timeout=TIMEOUT_S))).request)

    async def verify(self, request_id: str, verified: bool, note: str, key: str) -> None:
        await call_platform(self._dsr.VerifyIdentity(dsr_pb2.VerifyIdentityRequest(
            request_id=request_id, verified=verified, note=note, idempotency_key=key), timeout=TIMEOUT_S))

    async def extend(self, request_id: str, reason: str, key: str) -> None:
        await call_platform(self._dsr.ExtendDeadline(dsr_pb2.ExtendDeadlineRequest(
            request_id=request_id, reason=reason, idempotency_key=key), timeout=TIMEOUT_S))

    async def reject(self, request_id: str, rejection: Rejection, key: str) -> None:
        await call_platform(self._dsr.RejectRequest(dsr_pb2.RejectRequestRequest(
            request_id=request_id, reason=dsr_pb2.RejectionReason(
                code=rejection.code, explanation=rejection.explanation, complaint_route=rejection.complaint_route),
            idempotency_key=key), timeout=TIMEOUT_S))

    async def acknowledge(self, request_id: str, key: str) -> None:
        await call_platform(self._dsr.AcknowledgeRequest(dsr_pb2.AcknowledgeRequestRequest(
            request_id=request_id, idempotency_key=key), timeout=TIMEOUT_S))

    async def release_export(self, request_id: str, note: str, key: str) -> None:
        await call_platform(self._dsr.ReleaseExport(dsr_pb2.ReleaseExportRequest(
            request_id=request_id, note=note, idempotency_key=key), timeout=TIMEOUT_S))

    async def export(self, request_id: str) -> bytes:
        return (await call_platform(self._dsr.GetExport(dsr_pb2.GetExportRequest(request_id=request_id),
                                                        timeout=TIMEOUT_S))).export_json

    # Purposes and notices

    async def purposes(self, controller_id: str) -> list[StaffPurpose]:
        return [_purpose(p) async for p in items(self._list_purposes, consent_pb2.ListPurposesRequest(
            controller_id=controller_id, page_size=1000), "purposes")]

    def _list_purposes(self, request: consent_pb2.ListPurposesRequest):
        return call_platform(self._consent.ListPurposes(request, timeout=TIMEOUT_S))

    async def purpose(self, controller_id: str, purpose_id: str) -> StaffPurpose:
        answer = await call_platform(self._consent.GetPurpose(consent_pb2.GetPurposeRequest(
            purpose_id=purpose_id, controller_id=controller_id), timeout=TIMEOUT_S))
        return _purpose(answer.purpose, answer.notices)

    async def register(self, terms: PurposeTerms, key: str) -> None:
        await call_platform(self._consent.RegisterPurpose(consent_pb2.RegisterPurposeRequest(
            purpose=_purpose_message(terms), idempotency_key=key), timeout=TIMEOUT_S))

    async def publish(self, controller_id: str, purpose_id: str, texts: dict[str, str], material_change: bool,
                      key: str) -> int:
        """Consents that now need renewal."""
        answer = await call_platform(self._consent.PublishNotice(consent_pb2.PublishNoticeRequest(
            purpose_id=purpose_id, controller_id=controller_id, material_change=material_change, idempotency_key=key,
            texts=[consent_pb2.PublishNoticeRequest.Text(language=language, text=text)
                   for language, text in texts.items()]), timeout=TIMEOUT_S))
        return answer.consents_needing_renewal

    # The audit log

    async def entries(self, where: EntryQuery, page_size: int, page_token: str) -> tuple[list[tuple[int, bytes]], str]:
        answer = await call_platform(self._audit.QueryEvents(audit_pb2.QueryEventsRequest(
            filter=_filter(where), page_size=page_size, page_token=page_token), timeout=TIMEOUT_S))
        return [(e.leaf_index, e.entry_json) for e in answer.entries], answer.next_page_token

    async def proven(self, leaf_index: int) -> ProvenEntry:
        """The entry and its proof up to the latest checkpoint (taken first, so the proof is of its size)."""
        checkpoint = (await call_platform(self._audit.GetCheckpoint(audit_pb2.GetCheckpointRequest(),
                                                                    timeout=TIMEOUT_S))).checkpoint
        proof = await call_platform(self._audit.GetInclusionProof(audit_pb2.GetInclusionProofRequest(
            leaf_index=leaf_index, tree_size=checkpoint.tree_size, include_entry=True), timeout=TIMEOUT_S))
        key = await call_platform(self._audit.GetPublicKey(audit_pb2.GetPublicKeyRequest(), timeout=TIMEOUT_S))
        return ProvenEntry(leaf_index, proof.entry_json, proof.tree_size, tuple(proof.hashes), checkpoint.note,
                      checkpoint.signature, checkpoint.key_id, key.public_key_pem)

    async def completeness(self) -> list[Completeness]:
        answer = await call_platform(self._audit.GetCompleteness(audit_pb2.GetCompletenessRequest(),
                                                                 timeout=TIMEOUT_S))
        return [Completeness(p.producer, p.complete_up_to, p.highest_seen, p.missing) for p in answer.producers]

    async def filing(self, controller_id: str) -> Filing:
        answer = await call_platform(self._consent.GetFilingStatus(consent_pb2.GetFilingStatusRequest(
            controller_id=controller_id), timeout=TIMEOUT_S))
        return Filing(answer.subjects_with_stored_face_data, answer.threshold,
                      consent_pb2.FilingState.Name(answer.state).removeprefix("FILING_STATE_").lower())

    async def public_key(self) -> str:
        """The PEM of the key that signs the log's checkpoints."""
        return (await call_platform(self._audit.GetPublicKey(audit_pb2.GetPublicKeyRequest(),
                                                             timeout=TIMEOUT_S))).public_key_pem

    async def export_events(self, where: EntryQuery) -> AsyncIterator[bytes]:
        """The export's chunks; its first is read here, so a refusal is an error before anything is sent."""
        stream = self._audit.ExportEvents(audit_pb2.ExportEventsRequest(filter=_filter(where)), timeout=600)
        first = await call_platform(stream.read())

        async def chunks() -> AsyncIterator[bytes]:
            chunk = first
            while chunk is not grpc.aio.EOF:
                yield chunk.data
                chunk = await stream.read()
        return chunks()
