"""Every RPC of every service, taken from the proto descriptors, called by a client of controller A
(granted every RPC and purpose) with controller B's ids: answered exactly as the same request with
ids nobody has, so A learns nothing of B, and B's ids appear in no answer. The same request with A's
own ids is not refused as unknown or invalid, so the request itself is sound. A new RPC fails here
until it has a request below, or a reason why it carries no controller's data."""

import asyncio
import re
import time
from collections.abc import Callable

import grpc
import pytest
from google.protobuf import text_format, timestamp_pb2
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

from consentry.audit.v1 import audit_pb2 as apb
from consentry.consent.v1 import consent_admin_pb2 as cadm
from consentry.consent.v1 import consent_pb2 as cpb
from consentry.dsr.v1 import dsr_admin_pb2 as dadm
from consentry.dsr.v1 import dsr_pb2 as dpb
from consentry.events.v1 import event_service_pb2
from consentry.keyvault.v1 import keyvault_admin_pb2 as kadm
from consentry.keyvault.v1 import keyvault_pb2 as kpb
from tests.consent.builders import controller, grant, purpose
from tests.fuzz.apart_world import SYSTEMS, Ids, seed_controller
from tests.fuzz.stack import PRODUCERS
from tests.support import secure_channel, unique

pytestmark = pytest.mark.fuzz
STACK = "walk"  # databases and keys of its own, apart from the fuzz suite's

ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
Build = Callable[[Ids, str], Message]  # (ids, the controller_id a request names) -> the request


def _key(_ids: Ids) -> str:
    return unique("walk")


def _evidence() -> dpb.IdentityEvidence:
    return dpb.IdentityEvidence(method="in-person-id-check", reference="desk-7/2291")


# One request per RPC, naming the ids it is about. `named` is what goes into a controller_id field:
# "" (the caller's own), or a controller's id.
REQUESTS: dict[str, Build] = {
    "ConsentService.RegisterPurpose": lambda i, named: cpb.RegisterPurposeRequest(
        purpose=purpose(unique("walk-purpose"), controller_id=named or i.controller), idempotency_key=_key(i)),
    "ConsentService.GetPurpose": lambda i, named: cpb.GetPurposeRequest(purpose_id=i.purpose, controller_id=named),
    "ConsentService.ListPurposes": lambda i, named: cpb.ListPurposesRequest(controller_id=named),
    "ConsentService.PublishNotice": lambda i, named: cpb.PublishNoticeRequest(
        purpose_id=i.purpose, controller_id=named, idempotency_key=_key(i), texts=[cpb.PublishNoticeRequest.Text(
            language="en", text="We keep a template of your face to open the gate; a badge works too.")]),
    "ConsentService.GrantConsent": lambda i, named: grant(i.person, i.purpose, controller_id=named),
    "ConsentService.CheckConsent": lambda i, named: cpb.CheckConsentRequest(
        subject_id=i.person, purpose_id=i.purpose, controller_id=named),
    "ConsentService.WatchConsents": lambda i, named: cpb.WatchConsentsRequest(controller_id=named),
    "ConsentService.CheckConsents": lambda i, named: cpb.CheckConsentsRequest(checks=[cpb.CheckConsentRequest(
        subject_id=i.person, purpose_id=i.purpose, controller_id=named)]),
    "ConsentService.WithdrawConsent": lambda i, named: cpb.WithdrawConsentRequest(
        subject_id=i.person, purpose_id=i.purpose, actor=cpb.Actor(kind=cpb.ACTOR_KIND_SUBJECT),
        idempotency_key=_key(i), controller_id=named),
    "ConsentService.ListConsents": lambda i, named: cpb.ListConsentsRequest(subject_id=i.person, controller_id=named),
    "ConsentService.GetConsentHistory": lambda i, named: cpb.GetConsentHistoryRequest(
        subject_id=i.person, purpose_id=i.purpose, controller_id=named),
    "ConsentService.GetConsentAsOf": lambda i, named: cpb.GetConsentAsOfRequest(
        subject_id=i.person, purpose_id=i.purpose, as_of=timestamp_pb2.Timestamp(seconds=int(time.time()) - 1),
        controller_id=named),
    "ConsentService.IssueReceipt": lambda i, named: cpb.IssueReceiptRequest(
        subject_id=i.person, purpose_id=i.purpose, controller_id=named),
    "ConsentService.RecordInteraction": lambda i, named: cpb.RecordInteractionRequest(
        subject_id=i.person, purpose_id=i.purpose, controller_id=named),
    "ConsentService.GetFilingStatus": lambda i, named: cpb.GetFilingStatusRequest(controller_id=named or i.controller),
    "ConsentService.GetController": lambda i, named: cpb.GetControllerRequest(controller_id=named or i.controller),
    "ConsentAdminService.EraseSubject": lambda i, named: cadm.EraseSubjectRequest(
        subject_id=i.person, request_id=i.request, idempotency_key=_key(i), controller_id=named),
    "ConsentAdminService.RegisterController": lambda i, named: cadm.RegisterControllerRequest(
        controller=controller(named or i.controller), idempotency_key=_key(i)),
    "KeyVaultService.EnsureSubjectKey": lambda i, named: kpb.EnsureSubjectKeyRequest(
        subject_id=i.person, controller_id=named),
    "KeyVaultService.EnsureSubjectKeys": lambda i, named: kpb.EnsureSubjectKeysRequest(
        subject_ids=[i.person], controller_id=named),
    "KeyVaultService.GenerateDataKey": lambda i, named: kpb.GenerateDataKeyRequest(
        subject_id=i.person, purpose_id=i.purpose, controller_id=named),
    "KeyVaultService.DecryptDataKey": lambda i, named: kpb.DecryptDataKeyRequest(
        subject_id=i.person, purpose_id=i.purpose, wrapped_key=i.wrapped_key, controller_id=named),
    "KeyVaultService.RetirePurposeKeys": lambda i, named: kpb.RetirePurposeKeysRequest(
        subject_id=i.person, purpose_id=i.purpose, idempotency_key=_key(i), controller_id=named),
    "KeyVaultService.Encrypt": lambda i, named: kpb.EncryptRequest(
        subject_id=i.person, purpose_id=i.purpose, plaintext=b"face template", controller_id=named),
    "KeyVaultService.Decrypt": lambda i, named: kpb.DecryptRequest(
        subject_id=i.person, purpose_id=i.purpose, ciphertext=i.ciphertext, controller_id=named),
    "KeyVaultService.WatchKeys": lambda i, named: kpb.WatchKeysRequest(controller_id=named),
    "KeyVaultService.RecordReleases": lambda i, named: kpb.RecordReleasesRequest(
        idempotency_key=_key(i), controller_id=named, releases=[kpb.RecordReleasesRequest.Release(
            subject_id=i.person, purpose_id=i.purpose, consent_id=i.event, count=1)]),
    "KeyVaultService.GetKeyStatus": lambda i, named: kpb.GetKeyStatusRequest(subject_id=i.person, controller_id=named),
    "KeyVaultService.GetSubjectRefs": lambda i, named: kpb.GetSubjectRefsRequest(
        subject_ids=[i.person], controller_id=named),
    "KeyVaultService.VerifyCertificate": lambda i, named: kpb.VerifyCertificateRequest(
        subject_id=i.shredded, certificate=i.certificate, controller_id=named),
    "KeyVaultAdminService.ShredSubjectKey": lambda i, named: kadm.ShredSubjectKeyRequest(
        subject_id=i.person, request_id=i.request, reason="walk", idempotency_key=_key(i), controller_id=named),
    "KeyVaultAdminService.RotateKek": lambda i, named: kadm.RotateKekRequest(idempotency_key=_key(i),
                                                                             controller_id=named),
    "KeyVaultAdminService.OffboardController": lambda i, named: kadm.OffboardControllerRequest(
        controller_id=named, reason="walk", idempotency_key=_key(i)),
    "KeyVaultAdminService.GetKekStatus": lambda i, named: kadm.GetKekStatusRequest(controller_id=named),
    "DsrService.SubmitRequest": lambda i, named: dpb.SubmitRequestRequest(
        type=dpb.REQUEST_TYPE_ACCESS, subject_id=i.person, jurisdiction="DE", evidence=_evidence(),
        idempotency_key=_key(i), controller_id=named),
    "DsrService.VerifyIdentity": lambda i, named: dpb.VerifyIdentityRequest(
        request_id=i.request, verified=True, idempotency_key=_key(i)),
    "DsrService.AcknowledgeRequest": lambda i, named: dpb.AcknowledgeRequestRequest(
        request_id=i.request, idempotency_key=_key(i)),
    "DsrService.GetRequest": lambda i, named: dpb.GetRequestRequest(request_id=i.request),
    "DsrService.ListRequests": lambda i, named: dpb.ListRequestsRequest(subject_id=i.person, controller_id=named),
    "DsrService.ExtendDeadline": lambda i, named: dpb.ExtendDeadlineRequest(
        request_id=i.request, reason="Complex request: several face systems hold the data.", idempotency_key=_key(i)),
    "DsrService.RejectRequest": lambda i, named: dpb.RejectRequestRequest(
        request_id=i.request, idempotency_key=_key(i),
        reason=dpb.RejectionReason(code="excessive", explanation="The same request was answered last week.",
                                   complaint_route="The data protection authority of Berlin")),
    "DsrService.GetExport": lambda i, named: dpb.GetExportRequest(request_id=i.request),
    "DsrService.ReleaseExport": lambda i, named: dpb.ReleaseExportRequest(request_id=i.request,
                                                                          idempotency_key=_key(i)),
    "DsrService.ListProcessors": lambda i, named: dpb.ListProcessorsRequest(controller_id=named),
    "DsrService.ConfirmTasks": lambda i, named: dpb.ConfirmTasksRequest(task_ids=[i.task]),
    "DsrAdminService.DeregisterProcessor": lambda i, named: dadm.DeregisterProcessorRequest(
        name=i.processor, reason="walk", idempotency_key=_key(i)),
    "AuditService.QueryEvents": lambda i, named: apb.QueryEventsRequest(filter=apb.EventFilter(
        subject_id=i.person, controller_id=named)),
    "AuditService.ExportEvents": lambda i, named: apb.ExportEventsRequest(filter=apb.EventFilter(
        subject_id=i.person, controller_id=named)),
    "AuditService.GetInclusionProof": lambda i, named: apb.GetInclusionProofRequest(leaf_index=i.leaf),
    "EventService.OpenEvents": lambda i, named: event_service_pb2.OpenEventsRequest(envelopes=[i.envelope]),
}

# RPCs that name no controller's data, and why: each answers every caller alike.
NO_CONTROLLER_DATA = {
    "ConsentService.GetReceiptKey": "the receipt signing key, public",
    "ConsentService.RenderReceipt": "renders the signed receipt the caller holds: the document is the capability",
    "ConsentAdminService.ExpireConsents": "a sweep of what has expired, operators only (PERMISSION_DENIED to A)",
    "KeyVaultService.GetCertificateKey": "the certificate signing key, public",
    "DsrService.RegisterProcessor": "registers the caller itself, for its own controller",
    "AuditService.Append": "records the caller's own face events, for its own controller",
    "AuditService.GetCheckpoint": "the one signed tree head, the same for every controller",
    "AuditService.GetPublicKey": "the checkpoint signing key, public",
    "AuditService.GetConsistencyProof": "between two sizes of the one tree; names no entry",
    "AuditService.VerifyLog": "checks the one tree; names no entry",
    "AuditService.GetCompleteness": "per producer, names no entry",
}

# A leaf's position in the one public tree is no secret, so another controller's leaf is NOT_FOUND
# (not "beyond the tree", which a leaf nobody has would be).
EXPECTED = {"AuditService.GetInclusionProof": grpc.StatusCode.NOT_FOUND}


def _methods():
    from tests.fuzz.test_fuzz import RPCS  # every RPC of every service, from the descriptors
    seen = set()
    for param in RPCS:
        method = param.values[0]
        name = f"{method.containing_service.name}.{method.name}"
        if name not in seen:
            seen.add(name)
            yield pytest.param(method, param.values[1], name, id=name)


@pytest.fixture(scope="module")
async def two_controllers(fuzz_stack):
    """A's world, B's, and ids nobody has (B's shapes). A may act on any person id in its own
    controller, so every call the walk makes with B's ids it makes with nobody's too: whatever A made
    of its own for either, the two stay alike unless B's data shows through."""
    a = await seed_controller(fuzz_stack, unique("person"), "walk-a")
    b = await seed_controller(fuzz_stack, unique("person"), "walk-b")
    return a, b, b.unknown()


@pytest.fixture(scope="module")
async def walker(fuzz_stack):
    """A client of controller A, granted every RPC (admin services too) and every purpose."""
    channels = {name: secure_channel(fuzz_stack.ca, app.port, SYSTEMS["walk-a"]) for name, app in fuzz_stack.apps.items()}
    yield channels
    for channel in channels.values():
        await channel.close()


async def _call(channels, method, server: str, request: Message) -> tuple[grpc.StatusCode, str]:
    """The status and, when answered, the answer as text."""
    path, answer = f"/{method.containing_service.full_name}/{method.name}", GetMessageClass(method.output_type)
    call = dict(request_serializer=lambda m: m.SerializeToString(), response_deserializer=answer.FromString)
    try:
        if method.server_streaming and method.name.startswith("Watch"):
            # A watch never ends: what it starts with (its key is random, its kind is not).
            stream = channels[server].unary_stream(path, **call)(request, timeout=15)
            first = await stream.read()
            stream.cancel()
            return grpc.StatusCode.OK, first.WhichOneof("event")
        if method.server_streaming:
            # ExportEvents streams JSON Lines in chunks cut anywhere: the lines, as one text.
            chunks = [a async for a in channels[server].unary_stream(path, **call)(request, timeout=15)]
            return grpc.StatusCode.OK, b"".join(a.data for a in chunks).decode()
        return grpc.StatusCode.OK, text_format.MessageToString(
            await channels[server].unary_unary(path, **call)(request, timeout=15), as_utf8=True)
    except grpc.aio.AioRpcError as error:
        return error.code(), error.details() or ""


def _as_seen(outcome: tuple[grpc.StatusCode, str], ids: Ids) -> tuple[grpc.StatusCode, str]:
    """The outcome with the request's own ids, uuids and long numbers put aside: what is left is what
    the caller learns."""
    code, text = outcome
    for field, value in sorted(ids.strings().items(), key=lambda kv: -len(kv[1])):
        text = text.replace(value, f"<{field}>")
    text = re.sub(r"[A-Za-z0-9+/=]{20,}", "<blob>", ID.sub("<uuid>", text))  # refs, hashes, proofs, signatures
    text = re.sub(r'\[("<blob>"(,"<blob>")*)?\]', '["<blobs>"]', text)  # a proof's length is its leaf's position
    text = re.sub(r"\d+", "<n>", text)  # times, sequences, leaf indexes: the log's, not B's
    # In sorted lines: entries of several producers reach the log in an order of their own.
    return code, "\n".join(sorted(text.splitlines()))


async def _compared(walker, method, server: str, name: str, b_request: Message, b: Ids, nobody_request: Message,
                    nobody: Ids):
    """Both outcomes as seen; lists are asked again a few times, as the log and the relays settle."""
    for _ in range(20):
        raw = await _call(walker, method, server, b_request)
        at_b, at_nobody = _as_seen(raw, b), _as_seen(await _call(walker, method, server, nobody_request), nobody)
        if at_b == at_nobody or name in EXPECTED:
            break
        await asyncio.sleep(0.5)
    return raw, at_b, at_nobody


@pytest.mark.parametrize(("method", "server", "name"), list(_methods()))
async def test_a_client_of_one_controller_learns_nothing_of_another(method, server, name, two_controllers, walker):
    if name in NO_CONTROLLER_DATA:
        return
    assert name in REQUESTS, f"{name} is new: give it a request naming B's ids, or a reason in NO_CONTROLLER_DATA"
    a, b, nobody = two_controllers
    build, server = REQUESTS[name], server if server in walker else PRODUCERS[0]
    for named_b, named_nobody in (("", ""), (b.controller, nobody.controller)):
        request = build(b, named_b)
        raw, at_b, at_nobody = await _compared(walker, method, server, name, request, b,
                                               build(nobody, named_nobody), nobody)

        assert at_b[0] == EXPECTED.get(name, at_nobody[0]), f"{name} naming {named_b or 'no controller'}: {raw}"
        if name not in EXPECTED:
            assert at_b == at_nobody, f"{name} answers B's ids otherwise than ids nobody has:\n{at_b}\n{at_nobody}"
        unasked = [value for value in b.strings().values() if value.encode() not in request.SerializeToString()]
        assert not [value for value in unasked if value in raw[1]], f"{name} tells A of B's: {raw}"

    own = await _call(walker, method, server, build(a, ""))
    assert own[0] not in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND) or name.startswith(
        ("ConsentAdmin", "KeyVaultAdmin", "DsrAdmin")), f"{name} with A's own ids: {own}"
