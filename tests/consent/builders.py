"""Requests with sensible defaults, so each test states only what it is about."""

from datetime import timedelta

import asyncpg
from google.protobuf import duration_pb2

from consentry.consent.v1 import consent_admin_pb2 as admin_pb
from consentry.consent.v1 import consent_admin_pb2_grpc
from consentry.consent.v1 import consent_pb2 as pb
from services.common.pki import DevCA
from services.consent.domain.model import content_hash
from tests.support import secure_channel, unique

CONTROLLER = "acme-campus"  # the controller of every purpose a test does not give another one
OTHER_CONTROLLER = "river-bank"  # a second controller on the same service, with a client of its own (bank-app)

NOTICE_EN = "We store a template of your face to open the gate. You can use your badge instead."
NOTICE_ZH = "我们存储您的人脸模板以开启闸机。您也可以使用门禁卡。"


def controller(controller_id: str | None = None, **overrides) -> pb.Controller:
    controller_id = controller_id or unique("controller")
    fields = dict(controller_id=controller_id, legal_name=f"{controller_id} Ltd.",
                  address="88 Science Park Road, Shenzhen", contact="dpo@acme-campus.example", jurisdiction="CN")
    fields.update(overrides)
    return pb.Controller(**fields)


async def registered_controller(consent_admin, controller_id: str | None = None, **overrides) -> pb.Controller:
    """Registers a controller (an operator's ConsentAdminService stub); the same one again is no error."""
    c = controller(controller_id, **overrides)
    return (await consent_admin.RegisterController(admin_pb.RegisterControllerRequest(
        controller=c, idempotency_key=unique("ctl")))).controller


async def register_default_controller(ca: DevCA, port: int, client: str = "admin",
                                      controller: str = CONTROLLER) -> None:
    """CONTROLLER (or another), on a consent service a test starts, before any purpose names it."""
    channel = secure_channel(ca, port, client)
    try:
        await registered_controller(consent_admin_pb2_grpc.ConsentAdminServiceStub(channel), controller)
    finally:
        await channel.close()


def purpose(purpose_id: str | None = None, **overrides) -> pb.Purpose:
    retention = duration_pb2.Duration()
    retention.FromTimedelta(overrides.pop("retention", timedelta(days=365)))
    fields = dict(
        purpose_id=purpose_id or unique("gate-access"), controller_id=CONTROLLER, name="Gate access by face",
        data_categories=[pb.DATA_CATEGORY_FACE_TEMPLATE], storage_location=pb.STORAGE_LOCATION_SERVER,
        retention=retention, legal_basis=pb.LEGAL_BASIS_SEPARATE_CONSENT,
        non_face_alternative="Badge at the reception desk", pia_reference="PIA-2026-014",
        withdrawal_method="Settings > Face access > Withdraw",
    )
    fields.update(overrides)
    return pb.Purpose(**fields)


async def registered_purpose(admin, **overrides) -> pb.Purpose:
    """Registers a purpose and publishes notice version 1 in en and zh-CN."""
    p = purpose(**overrides)
    await admin.RegisterPurpose(pb.RegisterPurposeRequest(purpose=p, idempotency_key=unique("reg")))
    await admin.PublishNotice(pb.PublishNoticeRequest(
        purpose_id=p.purpose_id, controller_id=p.controller_id, idempotency_key=unique("pub"),
        texts=[pb.PublishNoticeRequest.Text(language="en", text=NOTICE_EN),
               pb.PublishNoticeRequest.Text(language="zh-CN", text=NOTICE_ZH)]))
    return p


def grant(subject_id: str, purpose_id: str, *, version: int = 1, text: str = NOTICE_EN, language: str = "en",
          **overrides) -> pb.GrantConsentRequest:
    fields = dict(
        subject_id=subject_id, purpose_id=purpose_id, notice_version=version, notice_language=language,
        notice_hash=content_hash(text), collection_method=pb.COLLECTION_METHOD_APP_SCREEN,
        evidence_ref="screen-v3-tap", actor=pb.Actor(kind=pb.ACTOR_KIND_SUBJECT), subject_age=30,
        jurisdiction="CN", alternative_offered=True, idempotency_key=unique("grant"),
    )
    fields.update(overrides)
    return pb.GrantConsentRequest(**fields)


def check(subject_id: str, purpose_id: str, controller_id: str = "") -> pb.CheckConsentRequest:
    """A controller's client leaves the controller out (its own); an operator names it."""
    return pb.CheckConsentRequest(subject_id=subject_id, purpose_id=purpose_id, controller_id=controller_id)


async def time_passes(postgres, subject_id: str, purpose_id: str, by: timedelta) -> None:
    """As if `by` had passed since the consent was given and last used: its stored times move back.
    (ExpireConsents refuses a time in the future, which is how a test could otherwise look ahead.)"""
    await _execute(postgres, "UPDATE consents SET granted_at = granted_at - $3::interval, expires_at = expires_at - $3::interval,"
                   " last_interaction_at = last_interaction_at - $3::interval WHERE subject_id = $1 AND purpose_id = $2",
                   subject_id, purpose_id, by)


async def _execute(postgres, sql: str, *args) -> None:
    conn = await asyncpg.connect(postgres.dsn("consent"))
    try:
        await conn.execute(sql, *args)
    finally:
        await conn.close()
