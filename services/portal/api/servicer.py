"""PortalService over gRPC: a face system's backend asks for a sign-in link for a person it signed in."""

from consentry.portal.v1 import portal_pb2 as pb
from consentry.portal.v1 import portal_pb2_grpc
from google.protobuf import timestamp_pb2

from services.common import auth
from services.common.validation import JURISDICTION, Validator
from services.portal.domain.sign_in import MOST_WARDS, Person, Ward
from services.portal.service.sign_in import SignIn
from services.portal.web.guard import portal_path
from services.portal.web.i18n import LANGUAGES


def _person(req: pb.CreateSignInLinkRequest) -> tuple[Person, str, tuple[Ward, ...]]:
    v = Validator()
    v.identifier("subject_id", req.subject_id)
    v.matches("jurisdiction", req.jurisdiction, JURISDICTION, "an ISO 3166 code such as CN, EU or US-IL")
    v.check(req.language in ("", *LANGUAGES), "language", "language.supported",
            f"one of {', '.join(LANGUAGES)}, or empty for the browser's choice")
    v.count("wards", req.wards, most=MOST_WARDS)
    for i, ward in enumerate(req.wards[:MOST_WARDS]):
        v.identifier(f"wards[{i}].subject_id", ward.subject_id)
        v.check(ward.subject_id != req.subject_id, f"wards[{i}].subject_id", "ward.not_self",
                "a person is not their own ward")
        v.identifier(f"wards[{i}].verification_ref", ward.verification_ref)
        v.text(f"wards[{i}].label", ward.label, max_len=100)
    controller_id = auth.acting_controller(req.controller_id, v)
    v.done()
    wards = tuple(Ward(w.subject_id, w.verification_ref, w.label) for w in req.wards)
    return Person(controller_id, req.subject_id, req.jurisdiction), req.language, wards


class PortalServicer(portal_pb2_grpc.PortalServiceServicer):
    def __init__(self, sign_in: SignIn, public_url: str) -> None:
        self._sign_in, self._public_url = sign_in, public_url.rstrip("/")

    async def CreateSignInLink(self, request, context):
        person, language, wards = _person(request)
        token, expires_at = await self._sign_in.create_link(person, language, wards)
        expiry = timestamp_pb2.Timestamp()
        expiry.FromDatetime(expires_at)
        return pb.CreateSignInLinkResponse(
            url=self._public_url + portal_path(person.controller_id, f"sign-in/{token}"), expires_at=expiry)
