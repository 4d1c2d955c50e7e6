"""Purposes and notices in the console: a DPO registers a purpose with every term the law asks for and
publishes its notice in zh-CN and en as one version; a material change sends earlier consents to
renewal; a form that is not one registers nothing, and an auditor registers and publishes nothing."""

import pytest

from consentry.consent.v1 import consent_pb2 as cpb
from tests.consent.builders import grant, registered_controller
from tests.portal.fixtures import BACKEND
from tests.portal.staff import Staff, staff_account
from tests.support import unique

pytestmark = BACKEND
TERMS = {"name": "Door access by face", "description": "Opens the office door.", "categories": "face_template",
         "storage": "server", "retention_days": "365", "legal_basis": "separate_consent",
         "alternative": "A badge at the door", "minimum_age": "0", "pia_reference": "PIA-2026-7",
         "recipients": "", "withdrawal_method": "Settings > Face > Withdraw"}
TEXTS = {"zh-CN": "我们存储您的人脸模板以开门。您也可以使用门禁卡。", "en": "We keep a template of your face to open the door."}


@pytest.fixture(scope="module")
async def office(portal_app, connect_portal_admin, consent_admin):
    """A new controller, a DPO's and an auditor's browser in it, for this module's tests."""
    controller = (await registered_controller(consent_admin, unique("office"))).controller_id
    base = f"http://127.0.0.1:{portal_app.http_port}"
    dpo = await Staff(base).signed_in(await staff_account(connect_portal_admin("admin"), "dpo", controller))
    auditor = await Staff(base).signed_in(await staff_account(connect_portal_admin("admin"), "auditor", controller))
    yield controller, dpo, auditor
    await dpo.close()
    await auditor.close()


async def registered(staff: Staff, purpose_id: str, **fields):
    form = await staff.form("/console/purposes/new")
    return await staff.post("/console/purposes/new", {**form, **TERMS, "purpose_id": purpose_id, **fields})


async def test_a_dpo_registers_a_purpose_and_publishes_its_notice_in_both_languages(office, admin):
    controller, dpo, _ = office
    purpose_id = unique("door")
    answer = await registered(dpo, purpose_id)
    form = await dpo.form(f"/console/purposes/{purpose_id}")
    published = await dpo.post(f"/console/purposes/{purpose_id}/notices",
                               {**form, **{f"text-{lang}": text for lang, text in TEXTS.items()}})
    found = await admin.GetPurpose(cpb.GetPurposeRequest(purpose_id=purpose_id, controller_id=controller))
    page = (await dpo.get(f"/console/purposes/{purpose_id}")).text

    assert answer.status_code == 303 and answer.headers["location"].endswith("done=registered")
    assert published.status_code == 303
    p = found.purpose
    assert (p.name, p.pia_reference, p.non_face_alternative, p.retention.seconds) == (
        "Door access by face", "PIA-2026-7", "A badge at the door", 365 * 86400)
    assert list(p.data_categories) == [cpb.DATA_CATEGORY_FACE_TEMPLATE] and p.current_notice_version == 1
    assert {(n.version, n.language): n.text for n in found.notices} == {(1, lang): t for lang, t in TEXTS.items()}
    assert TEXTS["zh-CN"] in page and TEXTS["en"] in page  # side by side, to edit for the next version


async def test_a_material_change_sends_earlier_consents_to_renewal(office, admin):
    controller, dpo, _ = office
    purpose_id = unique("door")
    await registered(dpo, purpose_id)
    form = await dpo.form(f"/console/purposes/{purpose_id}")
    await dpo.post(f"/console/purposes/{purpose_id}/notices", {**form, **{f"text-{k}": v for k, v in TEXTS.items()}})
    person = unique("subj")
    await admin.GrantConsent(grant(person, purpose_id, controller_id=controller, text=TEXTS["en"]))
    form = await dpo.form(f"/console/purposes/{purpose_id}")
    changed = await dpo.post(f"/console/purposes/{purpose_id}/notices", {
        **form, "text-zh-CN": TEXTS["zh-CN"] + "我们现在也存储人脸图像。", "text-en": TEXTS["en"] + " We now keep images too.",
        "material_change": "yes"})
    check = await admin.CheckConsent(cpb.CheckConsentRequest(subject_id=person, purpose_id=purpose_id,
                                                            controller_id=controller))

    assert changed.status_code == 303 and changed.headers["location"].endswith("renewals=1")
    assert (check.decision, check.reason) == (cpb.DECISION_DENY, cpb.DENY_REASON_RENEWAL_REQUIRED)


@pytest.mark.parametrize("fields", [{"purpose_id": "no spaces"}, {"categories": "fingerprints"},
                                    {"retention_days": "0"}, {"storage": "cloud"}, {"form_key": "x"},
                                    {"pia_reference": ""}])
async def test_a_form_that_is_not_a_purpose_registers_nothing(office, admin, fields):
    controller, dpo, _ = office
    purpose_id = fields.pop("purpose_id", unique("door"))
    answer = await registered(dpo, purpose_id, **fields)
    listed = await admin.ListPurposes(cpb.ListPurposesRequest(controller_id=controller))

    assert answer.status_code == 400 and "Nothing was registered" in answer.text
    assert purpose_id not in {p.purpose_id for p in listed.purposes}


async def test_an_auditor_registers_and_publishes_nothing(office, admin):
    controller, dpo, auditor = office
    registered_before = len((await admin.ListPurposes(cpb.ListPurposesRequest(controller_id=controller))).purposes)
    purpose_id = unique("door")
    await registered(dpo, purpose_id)
    form = await auditor.form(f"/console/purposes/{purpose_id}")  # their page has no form: only the CSRF token
    tried = await registered(auditor, unique("door"))
    published = await auditor.post(f"/console/purposes/{purpose_id}/notices", {
        **form, "form_key": "00000000-0000-0000-0000-000000000000", **{f"text-{k}": v for k, v in TEXTS.items()}})
    listed = await admin.ListPurposes(cpb.ListPurposesRequest(controller_id=controller))

    assert (tried.status_code, published.status_code) == (403, 403)
    assert {p.purpose_id: p.current_notice_version for p in listed.purposes}[purpose_id] == 0
    assert len(listed.purposes) == registered_before + 1
