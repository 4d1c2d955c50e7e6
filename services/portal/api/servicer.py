"""PortalService over gRPC: a face system's backend asks for a sign-in link for a person it signed in,
and registers the address the person may sign in with by code. PortalAdminService: dsr has a deleted
person forgotten; an operator creates the console's staff accounts."""

from consentry.portal.v1 import portal_admin_pb2 as admin_pb
from consentry.portal.v1 import portal_admin_pb2_grpc
from consentry.portal.v1 import portal_pb2 as pb
from consentry.portal.v1 import portal_pb2_grpc
from google.protobuf import timestamp_pb2

from services.common import auth
from services.common.validation import JURISDICTION, Validator
from services.portal.domain import errors
from services.portal.domain.codes import normalized_address
from services.portal.domain.sign_in import MOST_WARDS, Person, Ward
from services.portal.domain.staff import ACCOUNT_NAME, ACCOUNT_NAME_RULE, Role, new_account_problems
from services.portal.service.codes import CodeSignIn
from services.portal.service.forgetting import Forgetting
from services.portal.service.sign_in import SignIn
from services.portal.service.staff_sign_in import StaffSignIn
from services.portal.web.guard import portal_path
from services.portal.web.i18n import LANGUAGES


def _subject(v: Validator, req) -> Person:
    v.identifier("subject_id", req.subject_id)
    v.matches("jurisdiction", req.jurisdiction, JURISDICTION, "an ISO 3166 code such as CN, EU or US-IL")
    return Person(auth.acting_controller(req.controller_id, v), req.subject_id, req.jurisdiction)


def _link(req: pb.CreateSignInLinkRequest) -> tuple[Person, str, tuple[Ward, ...]]:
    v = Validator()
    v.check(req.language in ("", *LANGUAGES), "language", "language.supported",
            f"one of {', '.join(LANGUAGES)}, or empty for the browser's choice")
    v.count("wards", req.wards, most=MOST_WARDS)
    for i, ward in enumerate(req.wards[:MOST_WARDS]):
        v.identifier(f"wards[{i}].subject_id", ward.subject_id)
        v.check(ward.subject_id != req.subject_id, f"wards[{i}].subject_id", "ward.not_self",
                "a person is not their own ward")
        v.identifier(f"wards[{i}].verification_ref", ward.verification_ref)
        v.text(f"wards[{i}].label", ward.label, max_len=100)
    person = _subject(v, req)
    v.done()
    wards = tuple(Ward(w.subject_id, w.verification_ref, w.label) for w in req.wards)
    return person, req.language, wards


def _contact(req: pb.RegisterContactRequest) -> tuple[Person, str]:
    v = Validator()
    try:
        address = normalized_address(req.email) if req.email else ""
    except errors.AddressNotValid:
        address = ""
        v.fail("email", "email.format", "an e-mail address (name@example.com) of at most 254 characters,"
                " or empty to remove the person's address")
    person = _subject(v, req)
    v.done()
    return person, address


class PortalServicer(portal_pb2_grpc.PortalServiceServicer):
    def __init__(self, sign_in: SignIn, codes: CodeSignIn, public_url: str) -> None:
        self._sign_in, self._codes, self._public_url = sign_in, codes, public_url.rstrip("/")

    async def CreateSignInLink(self, request, context):
        person, language, wards = _link(request)
        token, expires_at = await self._sign_in.create_link(person, language, wards)
        expiry = timestamp_pb2.Timestamp()
        expiry.FromDatetime(expires_at)
        return pb.CreateSignInLinkResponse(
            url=self._public_url + portal_path(person.controller_id, f"sign-in/{token}"), expires_at=expiry)

    async def RegisterContact(self, request, context):
        person, address = _contact(request)
        await self._codes.register(person, address)
        return pb.RegisterContactResponse()


_ROLES = {admin_pb.STAFF_ROLE_DPO: Role.DPO, admin_pb.STAFF_ROLE_OPERATOR: Role.OPERATOR,
          admin_pb.STAFF_ROLE_AUDITOR: Role.AUDITOR}


def _account_name(request) -> str:
    v = Validator()
    if not ACCOUNT_NAME.fullmatch(request.name):
        v.fail("name", "staff.name", ACCOUNT_NAME_RULE)
    v.done()
    return request.name


class PortalAdminServicer(portal_admin_pb2_grpc.PortalAdminServiceServicer):
    def __init__(self, forgetting: Forgetting, staff: StaffSignIn | None, controller) -> None:
        """`staff`: the console's accounts (None: no console here); `controller(id)`: the registered
        controller (errors.NotFound otherwise)."""
        self._forgetting, self._staff, self._controller = forgetting, staff, controller

    async def CreateStaffAccount(self, request, context):
        v = Validator()
        v.enum("role", request.role, list(_ROLES))
        role = _ROLES.get(request.role, Role.AUDITOR)
        for field, problem in new_account_problems(request.name, role, request.controller_id or None, request.password):
            v.fail(field, f"staff.{field}", problem)
        if request.controller_id:
            v.identifier("controller_id", request.controller_id)
        if request.oidc_subject:
            v.text("oidc_subject", request.oidc_subject, max_len=255)
        v.done()
        staff = self._console()
        if request.controller_id:
            try:
                await self._controller(request.controller_id)
            except errors.NotFound:
                raise auth.ControllerNotFound(request.controller_id) from None
        uri = await staff.add_account(request.name, role, request.controller_id or None, request.password,
                                            request.oidc_subject, by=auth.current_client().client_id)
        return admin_pb.CreateStaffAccountResponse(totp_uri=uri)

    async def DisableStaffAccount(self, request, context):
        name = _account_name(request)
        disabled_now, ended = await self._console().disable(name, by=auth.current_client().client_id)
        return admin_pb.DisableStaffAccountResponse(sessions_ended=ended, disabled_now=disabled_now)

    async def EnableStaffAccount(self, request, context):
        name = _account_name(request)
        return admin_pb.EnableStaffAccountResponse(
            enabled_now=await self._console().enable(name, by=auth.current_client().client_id))

    def _console(self) -> StaffSignIn:
        if self._staff is None:
            raise auth.PermissionDenied("CONSOLE_NOT_CONFIGURED", "this portal serves no console"
                                        " (set CONSENTRY_PORTAL_CONSOLE__TLS_CERT and _KEY)")
        return self._staff

    async def ForgetSubject(self, request, context):
        v = Validator()
        v.identifier("subject_id", request.subject_id)
        controller_id = auth.acting_controller(request.controller_id, v)
        v.done()
        return admin_pb.ForgetSubjectResponse(forgotten=await self._forgetting.forget(controller_id, request.subject_id))
