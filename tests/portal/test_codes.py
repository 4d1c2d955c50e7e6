"""Signing in by a one-time code mailed to the address the person's app registered: the code is hashed
at rest, works once, within ten minutes, at its controller's portal, and five wrong tries lock it. An
address no one registered gets the same pages and answers, and no mail."""

import re
from datetime import timedelta

import asyncpg
import grpc
import pytest

from consentry.dsr.v1 import dsr_pb2 as dpb
from consentry.portal.v1 import portal_admin_pb2 as apb
from consentry.portal.v1 import portal_pb2 as pb
from consentry_client import error_info
from services.common.grpc_errors import field_violations
from tests.portal.fixtures import BACKEND, HARBOUR
from services.portal.domain.sign_in import secret_hash
from tests.portal.visitor import Visitor, hidden_fields, sign_in_link
from tests.support import unique

pytestmark = BACKEND
CODE = re.compile(r"\b([0-9]{6})\b")


async def registered(harbour_links, subject: str | None = None) -> tuple[str, str]:
    """A person of HARBOUR with an address registered by the app: their id and the address."""
    subject, address = subject or unique("mei"), f"{unique('mei')}@Example.com"
    await harbour_links.RegisterContact(pb.RegisterContactRequest(subject_id=subject, jurisdiction="CN",
                                                                  email=address))
    return subject, address.lower()


def code_in(message) -> str:
    return CODE.search(message.get_content()).group(1)


async def names(postgres, code_page) -> str | None:
    """Whom the challenge of a code page names (None: no one, so no code was mailed for it)."""
    found = await rows(postgres, "SELECT subject_id FROM sign_in_codes WHERE challenge_hash = $1",
                       secret_hash(hidden_fields(code_page.text)["challenge"]))
    assert len(found) == 1
    return found[0]["subject_id"]


async def rows(postgres, query: str, *args) -> list:
    conn = await asyncpg.connect(postgres.dsn("portal"))
    try:
        return await conn.fetch(query, *args)
    finally:
        await conn.close()


async def test_a_code_mailed_to_the_registered_address_signs_its_person_in_once(
        harbour_links, harbour, visitor, inbox, operator, postgres):
    subject, address = await registered(harbour_links)

    asked = await visitor.ask_code(HARBOUR, address.upper())  # typed as the person likes
    mail = await inbox.next_to(address)
    copier = Visitor(str(visitor.http.base_url))
    copier.cookies = dict(visitor.cookies)  # everything the form needs, copied before it is sent
    signed_in = await visitor.enter_code(HARBOUR, asked.text, code_in(mail))
    consents = await visitor.get(f"/{HARBOUR}/consents")
    replayed = await copier.enter_code(HARBOUR, asked.text, code_in(mail))
    await copier.close()
    page = await visitor.get(f"/{HARBOUR}/requests/new")
    filed = await visitor.post(f"/{HARBOUR}/requests/new", {**hidden_fields(page.text), "kind": "access"})
    request_id = filed.headers["location"].split("/requests/")[1].split("?")[0]
    request = (await operator.GetRequest(dpb.GetRequestRequest(request_id=request_id))).request

    assert asked.status_code == 200 and "six-digit code" in asked.text and address not in asked.text
    assert "Harbour Campus Property Management Ltd." in mail["Subject"] and "10 minutes" in mail.get_content()
    assert (signed_in.status_code, signed_in.headers["location"]) == (303, f"/{HARBOUR}/consents")
    assert consents.status_code == 200 and "Gate access by face" in consents.text
    assert replayed.status_code == 400 and "cannot be used" in replayed.text
    # Verified by the code: the request needs no manual check.
    assert request.timeline[1].note == "identity verified by portal (portal-email-code)"
    # At rest: neither the address nor the code.
    stored = await rows(postgres, "SELECT c.*, k.address_hash AS contact FROM sign_in_codes c"
                                  " JOIN contacts k USING (controller_id, subject_id) WHERE subject_id = $1", subject)
    assert stored and all(address not in str(dict(r)) and code_in(mail) not in str(dict(r)) for r in stored)


async def test_the_mail_speaks_the_pages_language(harbour_links, harbour, portal_app, inbox):
    _, address = await registered(harbour_links)
    chinese = Visitor(f"http://localhost:{portal_app.http_port}", language="zh-CN")
    try:
        asked = await chinese.ask_code(HARBOUR, address)
    finally:
        await chinese.close()
    mail = await inbox.next_to(address)

    assert asked.status_code == 200 and 'lang="zh-CN"' in asked.text
    assert "登录" in mail["Subject"] and "10 分钟" in mail.get_content()


async def test_five_wrong_codes_lock_the_challenge_even_against_the_right_one(harbour_links, harbour, visitor, inbox):
    _, address = await registered(harbour_links)
    asked = await visitor.ask_code(HARBOUR, address)
    right = code_in(await inbox.next_to(address))
    wrong = f"{(int(right) + 1) % 10 ** 6:06d}"

    answers = [await visitor.enter_code(HARBOUR, asked.text, wrong) for _ in range(4)]
    odd = await visitor.enter_code(HARBOUR, asked.text, "12a4")  # not six digits: a wrong try as well
    locked = await visitor.enter_code(HARBOUR, asked.text, right)

    assert [a.status_code for a in answers] == [400] * 4
    assert [re.search(r"Tries left: (\d)", a.text).group(1) for a in answers] == ["4", "3", "2", "1"]
    assert odd.status_code == 400 and "Ask for a new code" in odd.text
    assert locked.status_code == 400 and "typed wrong too often" in locked.text and "session" not in visitor.cookies


async def test_an_unknown_address_looks_the_same_and_gets_no_mail(harbour_links, harbour, visitor, inbox, postgres):
    subject, address = await registered(harbour_links)
    stranger = f"{unique('nobody')}@example.com"

    known = await visitor.ask_code(HARBOUR, address)
    unknown = await visitor.ask_code(HARBOUR, stranger)
    tries = [await visitor.enter_code(HARBOUR, unknown.text, "000000") for _ in range(5)]
    await inbox.next_to(address)

    def without_secrets(html: str) -> str:
        return re.sub(r'value="[^"]*"', "", html)
    assert known.status_code == unknown.status_code == 200
    assert without_secrets(known.text) == without_secrets(unknown.text)
    assert [t.status_code for t in tries] == [400] * 5 and "Tries left: 1" in tries[3].text
    assert "typed wrong too often" in tries[4].text
    assert (await names(postgres, known), await names(postgres, unknown)) == (subject, None)  # mailed, not


async def test_expired_codes_and_codes_at_another_portal_sign_no_one_in(
        harbour_links, harbour, visitor, inbox, postgres, portal_app):
    _, address = await registered(harbour_links)
    asked = await visitor.ask_code(HARBOUR, address)
    code = code_in(await inbox.next_to(address))
    elsewhere = await visitor.post("/acme-campus/sign-in/code/check", {**hidden_fields(asked.text), "code": code})
    await rows(postgres, "UPDATE sign_in_codes SET expires_at = now() - interval '1 second'"
                         " WHERE subject_id IS NOT NULL AND used_at IS NULL")
    late = await visitor.enter_code(HARBOUR, asked.text, code)

    # Another portal: the visitor cookie is scoped to HARBOUR's path, so the form is refused before the code.
    assert elsewhere.status_code in (400, 403) and "session" not in visitor.cookies
    assert late.status_code == 400 and "expired" in late.text and "session" not in visitor.cookies


async def test_at_most_three_codes_in_ten_minutes_and_ten_a_day_are_mailed_to_one_address(
        harbour_links, harbour, visitor, inbox, postgres):
    """Used, locked or not, every code sent counts: locking codes by wrong tries buys no more guesses."""
    subject, address = await registered(harbour_links)

    first = [await visitor.ask_code(HARBOUR, address) for _ in range(4)]
    for _ in range(5):  # the first code locked by wrong tries
        await visitor.enter_code(HARBOUR, first[0].text, "000000")
    first.append(await visitor.ask_code(HARBOUR, address))
    # Each read as soon as it is asked: once time moved, the sweep deletes an expired challenge naming no one.
    named_first = [await names(postgres, page) for page in first]
    later, named_later = [], []
    for _ in range(8):  # as if an hour had passed each time
        await rows(postgres, "UPDATE sign_in_codes SET expires_at = expires_at - interval '1 hour'"
                             " WHERE address_hash = (SELECT address_hash FROM contacts WHERE subject_id = $1)", subject)
        later.append(await visitor.ask_code(HARBOUR, address))
        named_later.append(await names(postgres, later[-1]))

    assert named_first == [subject] * 3 + [None, None]  # the locked code counts as the others do
    assert named_later == [subject] * 7 + [None]  # ten in the day, then none
    assert [p.status_code for p in [*first, *later]] == [200] * 13  # the pages tell nothing


async def test_a_forged_csrf_token_or_text_that_is_no_address_sends_nothing(harbour_links, harbour, visitor, inbox):
    _, address = await registered(harbour_links)
    page = await visitor.get(f"/{HARBOUR}/sign-in/code")

    forged = await visitor.post(f"/{HARBOUR}/sign-in/code", {"csrf": "0" * 64, "email": address})
    not_address = await visitor.post(f"/{HARBOUR}/sign-in/code", {**hidden_fields(page.text), "email": "mei at home"})

    assert forged.status_code == 403 and "Nothing was changed" in forged.text
    assert not_address.status_code == 400 and "This is not an e-mail address" in not_address.text
    assert 'aria-invalid="true"' in not_address.text and inbox.to(address) == []


async def refused(call, request) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await call(request, timeout=10)
    return error.value


async def test_an_address_is_registered_for_ones_own_people_with_every_field_checked(
        connect_portal, harbour_links, harbour, visitor, inbox, postgres):
    bad = await refused(harbour_links.RegisterContact, pb.RegisterContactRequest(
        subject_id="", jurisdiction="CN", email="not an address"))
    other = await refused(harbour_links.RegisterContact, pb.RegisterContactRequest(
        subject_id="mei", jurisdiction="CN", email="mei@example.com", controller_id="acme-campus"))
    door = await refused(connect_portal("door-app").RegisterContact, pb.RegisterContactRequest(
        subject_id="mei", jurisdiction="CN", email="mei@example.com"))
    subject, address = await registered(harbour_links)
    sent = await visitor.ask_code(HARBOUR, address)
    code = code_in(await inbox.next_to(address))
    await harbour_links.RegisterContact(pb.RegisterContactRequest(subject_id=subject, jurisdiction="CN",
                                                                  email=address))  # the same again: code stays good
    kept = await rows(postgres, "SELECT attempts FROM sign_in_codes WHERE subject_id = $1", subject)
    await harbour_links.RegisterContact(pb.RegisterContactRequest(subject_id=subject, jurisdiction="CN", email=""))
    after_removal = await visitor.ask_code(HARBOUR, address)
    mailed_before = await visitor.enter_code(HARBOUR, sent.text, code)

    assert sorted(field_violations(bad)) == [("email", "email.format"), ("subject_id", "required")]
    assert (other.code(), error_info(other).reason) == (grpc.StatusCode.NOT_FOUND, "CONTROLLER_NOT_FOUND")
    assert door.code() == grpc.StatusCode.PERMISSION_DENIED
    assert [r["attempts"] for r in kept] == [0]
    assert await names(postgres, after_removal) is None  # no code for it any more
    assert mailed_before.status_code == 400 and "session" not in visitor.cookies  # nor for one sent before


async def test_a_deleted_person_is_forgotten_with_their_guardians_sessions_naming_them(
        harbour_links, harbour, connect_portal_admin, visitor, inbox, postgres):
    """What could sign them in again goes at once; an open session reads on for ten minutes at most
    (the person may be reading the deletion's certificate) and changes nothing."""
    subject, address = await registered(harbour_links)
    child = unique("child")
    url, _ = await sign_in_link(harbour_links, subject)
    guardian_url, guardian = await sign_in_link(harbour_links, wards=[pb.Ward(subject_id=child, verification_ref="ref",
                                                                              label="Lily")])
    await visitor.sign_in(url)
    guardian_visitor = Visitor(str(visitor.http.base_url))
    await guardian_visitor.sign_in(guardian_url)
    asked = [await visitor.ask_code(HARBOUR, address) for _ in range(4)]  # the fourth names no one
    await inbox.next_to(address)
    challenges = [secret_hash(hidden_fields(page.text)["challenge"]) for page in asked]
    before = [len(await rows(postgres, query, who)) for query, who in (
        ("SELECT 1 FROM sessions WHERE subject_id = $1", subject),
        ("SELECT 1 FROM sign_in_links WHERE subject_id = $1", subject),
        ("SELECT 1 FROM sessions WHERE wards::text LIKE '%' || $1 || '%'", child))]
    dsr = connect_portal_admin("dsr")
    form = hidden_fields((await visitor.get(f"/{HARBOUR}/requests/new")).text)

    face_system = await refused(connect_portal_admin("harbour-app").ForgetSubject, apb.ForgetSubjectRequest(
        subject_id=subject, controller_id=HARBOUR))
    forgotten = await dsr.ForgetSubject(apb.ForgetSubjectRequest(subject_id=subject, controller_id=HARBOUR))
    ward = await dsr.ForgetSubject(apb.ForgetSubjectRequest(subject_id=child, controller_id=HARBOUR))
    again = await dsr.ForgetSubject(apb.ForgetSubjectRequest(subject_id=subject, controller_id=HARBOUR))
    gone = [await rows(postgres, f"SELECT 1 FROM {t} WHERE subject_id = $1", subject)
            for t in ("contacts", "sign_in_codes", "sign_in_links")]
    codes_left = await rows(postgres, "SELECT 1 FROM sign_in_codes WHERE challenge_hash = ANY($1)", challenges)
    ending = await rows(postgres, "SELECT expires_at - forgotten_at AS left FROM sessions WHERE subject_id = $1"
                                  " OR wards::text LIKE '%' || $2 || '%'", subject, child)
    reads = await visitor.get(f"/{HARBOUR}/requests")
    filing = await visitor.post(f"/{HARBOUR}/requests/new", {**form, "kind": "access"})
    guardian_page = await guardian_visitor.get(f"/{HARBOUR}/consents?for=1")
    signed_out = await visitor.post(f"/{HARBOUR}/sign-out", {"csrf": form["csrf"]})

    assert before == [1, 1, 1]  # seen before, so the absence counts
    assert face_system.code() == grpc.StatusCode.PERMISSION_DENIED
    assert forgotten.forgotten == 7 and ward.forgotten == 2 and again.forgotten == 0  # contact, 4 codes, link, session
    assert gone == [[], [], []] and codes_left == []
    assert len(ending) == 2 and all(row["left"] <= timedelta(minutes=10) for row in ending)
    assert reads.status_code == 200 and guardian_page.status_code == 200
    assert filing.status_code == 409 and "deleted at your request" in filing.text
    assert signed_out.status_code == 303 and (await visitor.get(f"/{HARBOUR}/requests")).status_code == 303
    await guardian_visitor.close()
    assert guardian != subject
