"""The demo purpose `consentry dev up` registers, with its notice in English and Chinese, and the demo
people who consented to it (the reference face gate enrols them when it starts) and may sign in to the
portal by e-mail code (at <subject>@example.com; the codes land in the run directory's mail/)."""

import hashlib
import secrets
from datetime import timedelta

from google.protobuf import duration_pb2

from consentry.consent.v1 import consent_admin_pb2 as admin_pb
from consentry.consent.v1 import consent_admin_pb2_grpc
from consentry.consent.v1 import consent_pb2 as pb
from consentry.consent.v1 import consent_pb2_grpc
from consentry.portal.v1 import portal_admin_pb2, portal_admin_pb2_grpc, portal_pb2, portal_pb2_grpc
from services.cli.client import channel

NOTICE = {
    "en": "Acme Campus stores a template of your face on its server to open the campus gates. "
          "You may use your staff badge instead. Templates are deleted 1 year after consent, "
          "or at once when you withdraw in the app under Settings > Face access.",
    "zh-CN": "Acme园区将在服务器上存储您的人脸模板,用于开启园区闸机。您也可以改用工牌通行。"
             "模板将在同意一年后删除,或在您于应用“设置 > 人脸通行”中撤回同意时立即删除。",
}


# The demo purpose's controller, which the demo gate acts for (consentry_dev/policy.py).
DEMO_CONTROLLER = pb.Controller(
    controller_id="acme-campus", legal_name="Acme Campus Management Co., Ltd.",
    address="1 Demo Road, Haidian District, Beijing", contact="dpo@acme-campus.example", jurisdiction="CN")


async def seed_demo_purpose(endpoints: dict, purpose_id: str) -> None:
    retention = duration_pb2.Duration()
    retention.FromTimedelta(timedelta(days=365))
    async with channel(endpoints, "consent", "admin") as ch:
        await consent_admin_pb2_grpc.ConsentAdminServiceStub(ch).RegisterController(admin_pb.RegisterControllerRequest(
            controller=DEMO_CONTROLLER, idempotency_key=f"seed-{DEMO_CONTROLLER.controller_id}"))
        stub = consent_pb2_grpc.ConsentServiceStub(ch)
        await stub.RegisterPurpose(pb.RegisterPurposeRequest(idempotency_key=f"seed-{purpose_id}", purpose=pb.Purpose(
            purpose_id=purpose_id, controller_id=DEMO_CONTROLLER.controller_id, name="Campus gate access by face",
            # SERVER: the face gate stores templates on its server, which a DEVICE purpose does not allow.
            data_categories=[pb.DATA_CATEGORY_FACE_TEMPLATE], storage_location=pb.STORAGE_LOCATION_SERVER,
            retention=retention, legal_basis=pb.LEGAL_BASIS_SEPARATE_CONSENT,
            non_face_alternative="Staff badge at any gate", pia_reference="PIA-DEMO-001",
            withdrawal_method="App: Settings > Face access > Withdraw")))
        await stub.PublishNotice(pb.PublishNoticeRequest(
            purpose_id=purpose_id, idempotency_key=f"seed-{purpose_id}-notice-1",
            texts=[pb.PublishNoticeRequest.Text(language=lang, text=text) for lang, text in NOTICE.items()]))


async def seed_demo_consents(endpoints: dict, purpose_id: str, subjects: list[str]) -> None:
    async with channel(endpoints, "consent", "admin") as ch:
        stub = consent_pb2_grpc.ConsentServiceStub(ch)
        for subject in subjects:
            await stub.GrantConsent(pb.GrantConsentRequest(
                subject_id=subject, purpose_id=purpose_id, notice_version=1, notice_language="en",
                notice_hash=hashlib.sha256(NOTICE["en"].encode()).hexdigest(),
                collection_method=pb.COLLECTION_METHOD_APP_SCREEN, evidence_ref=f"seed-{subject}",
                actor=pb.Actor(kind=pb.ACTOR_KIND_SUBJECT), subject_age=30, jurisdiction="CN",
                alternative_offered=True, idempotency_key=f"seed-{subject}-{purpose_id}"))


def demo_address(subject_id: str) -> str:
    return f"{subject_id}@example.com"


async def seed_demo_contacts(endpoints: dict, subjects: list[str]) -> None:
    async with channel(endpoints, "portal", "admin") as ch:
        stub = portal_pb2_grpc.PortalServiceStub(ch)
        for subject in subjects:
            await stub.RegisterContact(portal_pb2.RegisterContactRequest(
                subject_id=subject, jurisdiction="CN", email=demo_address(subject),
                controller_id=DEMO_CONTROLLER.controller_id))


# The console's demo staff: one of each role, the DPO and the auditor in the demo controller.
DEMO_STAFF = {"demo-dpo": ("dpo", DEMO_CONTROLLER.controller_id), "demo-operator": ("operator", ""),
              "demo-auditor": ("auditor", DEMO_CONTROLLER.controller_id)}
_STAFF_ROLES = {"dpo": portal_admin_pb2.STAFF_ROLE_DPO, "operator": portal_admin_pb2.STAFF_ROLE_OPERATOR,
                "auditor": portal_admin_pb2.STAFF_ROLE_AUDITOR}


async def seed_demo_staff(endpoints: dict) -> dict[str, dict]:
    """Each demo account with a random password and its authenticator secret (consentry_dev/staff_code.py
    prints the current code), to be kept in a file only its owner reads."""
    accounts = {}
    async with channel(endpoints, "portal", "admin") as ch:
        stub = portal_admin_pb2_grpc.PortalAdminServiceStub(ch)
        for name, (role, controller) in DEMO_STAFF.items():
            password = secrets.token_urlsafe(12)
            answer = await stub.CreateStaffAccount(portal_admin_pb2.CreateStaffAccountRequest(
                name=name, role=_STAFF_ROLES[role], controller_id=controller, password=password))
            accounts[name] = {"role": role, "controller_id": controller, "password": password,
                              "totp_uri": answer.totp_uri}
    return accounts
