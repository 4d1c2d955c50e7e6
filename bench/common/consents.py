"""The benchmark's purpose and how its subjects consent to it: the consent section measures these
calls, the keyvault section needs consented subjects (a data key is released only after a positive
consent check), and the audit section's events carry such consents. The functions here are
load-generator entry points."""

from __future__ import annotations

import asyncio
import hashlib

from google.protobuf import duration_pb2

from bench.common.load import CALL_TIMEOUT_S, Target
from consentry.consent.v1 import consent_admin_pb2 as admin_pb
from consentry.consent.v1 import consent_admin_pb2_grpc
from consentry.consent.v1 import consent_pb2 as pb
from consentry.consent.v1 import consent_pb2_grpc

PURPOSE_ID = "bench-gate-access"
CONTROLLER_ID = "bench-campus"
NOTICE_EN = "We store a template of your face to open the gate. You can use your badge instead."
NOTICE_HASH = hashlib.sha256(NOTICE_EN.encode()).hexdigest()  # what a grant names: the text the person saw


def grant_request(subject_id: str) -> pb.GrantConsentRequest:
    """The benchmark's client is an operator, so it names the controller, as a controller's app backend
    implies its own (an operator naming none costs the service a look-up of the purpose's holders)."""
    return pb.GrantConsentRequest(
        subject_id=subject_id, purpose_id=PURPOSE_ID, controller_id=CONTROLLER_ID, notice_version=1, notice_language="en",
        notice_hash=NOTICE_HASH, collection_method=pb.COLLECTION_METHOD_APP_SCREEN,
        evidence_ref="bench-screen-tap", actor=pb.Actor(kind=pb.ACTOR_KIND_SUBJECT), subject_age=30,
        jurisdiction="CN", alternative_offered=True, idempotency_key=f"bench-{subject_id}",
    )


CONTROLLER = pb.Controller(controller_id=CONTROLLER_ID, legal_name="Bench Campus Ltd.", address="1 Bench Road",
                           contact="dpo@bench-campus.example", jurisdiction="CN")


async def _setup(target: Target) -> None:
    retention = duration_pb2.Duration(seconds=365 * 86400)
    purpose = pb.Purpose(
        purpose_id=PURPOSE_ID, controller_id=CONTROLLER.controller_id, name="Gate access by face (benchmark)",
        data_categories=[pb.DATA_CATEGORY_FACE_TEMPLATE], storage_location=pb.STORAGE_LOCATION_SERVER,
        retention=retention, legal_basis=pb.LEGAL_BASIS_SEPARATE_CONSENT,
        non_face_alternative="Badge at the reception desk", pia_reference="PIA-BENCH-1",
        withdrawal_method="Settings > Face access > Withdraw",
    )
    async with target.channel() as channel:
        await consent_admin_pb2_grpc.ConsentAdminServiceStub(channel).RegisterController(
            admin_pb.RegisterControllerRequest(controller=CONTROLLER, idempotency_key="bench-controller"),
            timeout=CALL_TIMEOUT_S)
        stub = consent_pb2_grpc.ConsentServiceStub(channel)
        await stub.RegisterPurpose(pb.RegisterPurposeRequest(purpose=purpose, idempotency_key="bench-register"),
                                   timeout=CALL_TIMEOUT_S)
        await stub.PublishNotice(pb.PublishNoticeRequest(
            purpose_id=PURPOSE_ID, idempotency_key="bench-publish",
            texts=[pb.PublishNoticeRequest.Text(language="en", text=NOTICE_EN)]), timeout=CALL_TIMEOUT_S)


def setup_purpose(target: Target) -> None:
    """Registers the benchmark purpose and publishes notice v1 (en); idempotent."""
    asyncio.run(_setup(target))


async def _grant_all(target: Target, subjects: list[str], concurrency: int) -> int:
    async with target.channel() as channel:
        stub = consent_pb2_grpc.ConsentServiceStub(channel)
        gate = asyncio.Semaphore(concurrency)

        async def one(subject_id: str) -> bool:
            async with gate:
                reply = await stub.GrantConsent(grant_request(subject_id), timeout=CALL_TIMEOUT_S)
            return reply.consent.state == pb.CONSENT_STATE_GIVEN

        return sum(await asyncio.gather(*(one(s) for s in subjects)))


def grant_all(target: Target, subjects: list[str], concurrency: int) -> int:
    """Set-up, not measured: consent for every subject, `concurrency` grants in flight; how many hold."""
    return asyncio.run(_grant_all(target, subjects, concurrency))
