"""A guardian manages the consents of the minors in their care, as the app that signed them in names
them: given or withdrawn by the guardian, for the child, with the app's verification of the guardianship."""

import grpc
import pytest

from consentry.consent.v1 import consent_pb2 as cpb
from consentry.portal.v1 import portal_pb2 as pb
from services.common.grpc_errors import field_violations
from tests.portal.fixtures import BACKEND, HARBOUR
from tests.portal.visitor import hidden_fields
from tests.support import unique

pytestmark = BACKEND


async def guardian_link(links, child: str, label: str = "Lily") -> tuple[str, str]:
    guardian = unique("parent")
    answer = await links.CreateSignInLink(pb.CreateSignInLinkRequest(
        subject_id=guardian, jurisdiction="CN", wards=[pb.Ward(subject_id=child, verification_ref="household-register-77",
                                                               label=label)]))
    return answer.url, guardian


async def test_a_guardian_gives_and_withdraws_a_childs_consent_as_their_guardian(
        harbour_links, harbour, visitor, admin):
    child = unique("child")
    url, guardian = await guardian_link(harbour_links, child)
    await visitor.sign_in(url)
    own = (await visitor.get(f"/{HARBOUR}/consents")).text
    theirs = (await visitor.get(f"/{HARBOUR}/consents?for=1")).text
    grant_path = f"/{HARBOUR}/consents/{harbour['gate']}/grant?for=1"
    grant_page = (await visitor.get(grant_path)).text
    form = hidden_fields(grant_page)

    granted = await visitor.post(grant_path, {**form, "age": "9"})
    history = await admin.GetConsentHistory(cpb.GetConsentHistoryRequest(
        subject_id=child, purpose_id=harbour["gate"], controller_id=HARBOUR))
    withdraw_path = f"/{HARBOUR}/consents/{harbour['gate']}/withdraw?for=1"
    withdrawn = await visitor.post(withdraw_path, hidden_fields((await visitor.get(withdraw_path)).text))
    after = await admin.GetConsentHistory(cpb.GetConsentHistoryRequest(
        subject_id=child, purpose_id=harbour["gate"], controller_id=HARBOUR))
    guardians_own = await admin.ListConsents(cpb.ListConsentsRequest(subject_id=guardian, controller_id=HARBOUR))

    assert ">Lily</a>" in own and "Consents of Lily" in theirs
    assert "The child's age in years" in grant_page
    assert granted.headers["location"] == f"/{HARBOUR}/consents?for=1&done=granted"
    assert history.consent.actor == cpb.Actor(kind=cpb.ACTOR_KIND_GUARDIAN, guardian_id=guardian,
                                              guardian_verification_ref="household-register-77")
    assert history.consent.subject_age == 9
    assert withdrawn.status_code == 303 and after.consent.state == cpb.CONSENT_STATE_WITHDRAWN
    assert after.events[-1].actor.kind == cpb.ACTOR_KIND_GUARDIAN
    assert list(guardians_own.consents) == []  # nothing was given in the guardian's own name


async def test_a_child_under_the_guardian_age_cannot_consent_alone(harbour_links, harbour, visitor, admin):
    child = unique("child")
    url, _ = await guardian_link(harbour_links, unique("sibling"))
    answer = await harbour_links.CreateSignInLink(pb.CreateSignInLinkRequest(subject_id=child, jurisdiction="CN"))
    await visitor.sign_in(answer.url)
    path = f"/{HARBOUR}/consents/{harbour['gate']}/grant?for=0"

    refused = await visitor.post(path, {**hidden_fields((await visitor.get(path)).text), "age": "9"})
    check = await admin.CheckConsent(cpb.CheckConsentRequest(subject_id=child, purpose_id=harbour["gate"],
                                                            controller_id=HARBOUR))

    assert refused.status_code == 409 and "parent or guardian must give this consent" in refused.text
    assert check.decision == cpb.DECISION_DENY


@pytest.mark.parametrize("ward", ["2", "abc", "-1", "100"])
async def test_a_ward_the_session_does_not_have_is_a_page_that_does_not_exist(harbour_links, harbour, visitor, ward):
    url, _ = await guardian_link(harbour_links, unique("child"))
    await visitor.sign_in(url)

    assert (await visitor.get(f"/{HARBOUR}/consents?for={ward}")).status_code == 404


async def test_wards_are_checked_field_by_field_when_the_link_is_asked(harbour_links, harbour):
    person = unique("parent")
    wards = [pb.Ward(subject_id=person, verification_ref="x", label="Me"),
             pb.Ward(subject_id="", verification_ref="", label="L" * 101)]
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await harbour_links.CreateSignInLink(pb.CreateSignInLinkRequest(subject_id=person, jurisdiction="CN",
                                                                          wards=wards))
    with pytest.raises(grpc.aio.AioRpcError) as many:
        await harbour_links.CreateSignInLink(pb.CreateSignInLinkRequest(
            subject_id=person, jurisdiction="CN",
            wards=[pb.Ward(subject_id=f"kid-{i}", verification_ref="r", label=str(i)) for i in range(11)]))

    assert sorted(field_violations(bad.value)) == [
        ("wards[0].subject_id", "ward.not_self"), ("wards[1].label", "string.max_len"),
        ("wards[1].subject_id", "required"), ("wards[1].verification_ref", "required")]
    assert field_violations(many.value) == [("wards", "repeated.items")]
