"""Signing in to a controller's portal by the link a face system's backend asks for: once, within
minutes, at that controller's portal only; and every form of a session needs the session's CSRF token."""

import asyncio
from urllib.parse import urlencode

import asyncpg
import grpc
import pytest

from consentry.consent.v1 import consent_pb2 as cpb
from consentry.portal.v1 import portal_pb2 as pb
from consentry_client import error_info
from services.common.grpc_errors import field_violations
from tests.consent.builders import grant
from tests.portal.fixtures import BACKEND, HARBOUR
from tests.portal.visitor import Visitor, hidden_fields, sign_in_link


pytestmark = BACKEND


async def test_a_link_signs_its_person_in_once_with_a_cookie_no_script_or_other_site_gets(
        harbour_links, harbour, visitor, portal_app):
    url, subject = await sign_in_link(harbour_links)

    signed_in = await visitor.sign_in(url)
    consents = await visitor.get(signed_in.headers["location"])

    assert subject not in url and url.startswith(f"http://localhost:{portal_app.http_port}/{HARBOUR}/sign-in/")
    assert (signed_in.status_code, signed_in.headers["location"]) == (303, f"/{HARBOUR}/consents")
    session = next(c["session"] for c in visitor.set_cookies if "session" in c)
    assert session["httponly"] and session["secure"] and session["samesite"] == "strict"
    assert session["path"] == f"/{HARBOUR}/"
    assert consents.status_code == 200 and "Gate access by face" in consents.text

    replayed = await Visitor(visitor.http.base_url.__str__()).sign_in(url)
    assert replayed.status_code == 400 and "used already, or it expired" in replayed.text
    assert "session" not in replayed.headers.get("set-cookie", "")


async def test_an_expired_link_or_one_of_another_portal_signs_no_one_in(harbour_links, harbour, visitor, postgres):
    expired, _ = await sign_in_link(harbour_links)
    conn = await asyncpg.connect(postgres.dsn("portal"))
    try:
        await conn.execute("UPDATE sign_in_links SET expires_at = now() - interval '1 second'")
    finally:
        await conn.close()
    elsewhere, _ = await sign_in_link(harbour_links)

    late = await visitor.sign_in(expired)
    wrong_portal = await visitor.sign_in(elsewhere.replace(f"/{HARBOUR}/", "/acme-campus/"))

    assert late.status_code == wrong_portal.status_code == 400
    assert "session" not in visitor.cookies
    assert (await visitor.get(f"/{HARBOUR}/consents")).headers["location"] == f"/{HARBOUR}/"


async def test_a_form_without_the_sessions_csrf_token_changes_nothing(harbour_links, harbour, visitor, admin):
    url, subject = await sign_in_link(harbour_links)
    await admin.GrantConsent(grant(subject, harbour["gate"], controller_id=HARBOUR))
    await visitor.sign_in(url)
    page = await visitor.get(f"/{HARBOUR}/consents/{harbour['gate']}/withdraw")
    fields = hidden_fields(page.text)

    forged = await visitor.post(f"/{HARBOUR}/consents/{harbour['gate']}/withdraw", {**fields, "csrf": "0" * 64})
    missing = await visitor.post(f"/{HARBOUR}/consents/{harbour['gate']}/withdraw",
                                 {k: v for k, v in fields.items() if k != "csrf"})
    still = await admin.CheckConsent(cpb.CheckConsentRequest(subject_id=subject, purpose_id=harbour["gate"],
                                                            controller_id=HARBOUR))
    withdrawn = await visitor.post(f"/{HARBOUR}/consents/{harbour['gate']}/withdraw", fields)
    after = await admin.CheckConsent(cpb.CheckConsentRequest(subject_id=subject, purpose_id=harbour["gate"],
                                                            controller_id=HARBOUR))

    assert forged.status_code == missing.status_code == 403 and "Nothing was changed" in forged.text
    assert still.decision == cpb.DECISION_ALLOW  # seen before the real withdrawal
    assert withdrawn.status_code == 303 and after.decision == cpb.DECISION_DENY


async def test_signing_out_ends_the_session(harbour_links, harbour, visitor):
    url, _ = await sign_in_link(harbour_links)
    await visitor.sign_in(url)
    session = visitor.cookies["session"]
    page = await visitor.get(f"/{HARBOUR}/consents")

    out = await visitor.post(f"/{HARBOUR}/sign-out", hidden_fields(page.text))
    visitor.cookies["session"] = session  # a copy of the cookie kept by someone
    again = await visitor.get(f"/{HARBOUR}/consents")

    assert out.status_code == 303 and again.headers["location"] == f"/{HARBOUR}/"


async def test_every_page_carries_the_security_headers(harbour_links, harbour, visitor):
    url, _ = await sign_in_link(harbour_links)
    await visitor.sign_in(url)
    for path in (f"/{HARBOUR}/", f"/{HARBOUR}/consents", f"/{HARBOUR}/consents/{harbour['gate']}/grant",
                 "/nowhere/consents"):
        headers = (await visitor.get(path)).headers
        csp = headers["content-security-policy"]
        assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp and "default-src 'none'" in csp, path
        assert headers["referrer-policy"] == "no-referrer" and headers["cache-control"] == "no-store", path
        assert headers["x-content-type-options"] == "nosniff", path


async def refused(call, request) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as error:
        await call(request, timeout=10)
    return error.value


async def test_a_link_is_asked_for_ones_own_people_only_with_every_field_checked(connect_portal, harbour_links,
                                                                                   harbour):
    other = await refused(harbour_links.CreateSignInLink, pb.CreateSignInLinkRequest(
        subject_id="mei", jurisdiction="CN", controller_id="acme-campus"))
    bad = await refused(harbour_links.CreateSignInLink, pb.CreateSignInLinkRequest(
        subject_id="", jurisdiction="china", language="fr"))
    unnamed = await refused(connect_portal("admin").CreateSignInLink, pb.CreateSignInLinkRequest(
        subject_id="mei", jurisdiction="CN"))
    unknown = await refused(connect_portal("admin").CreateSignInLink, pb.CreateSignInLinkRequest(
        subject_id="mei", jurisdiction="CN", controller_id="never-registered"))
    door = await refused(connect_portal("door-app").CreateSignInLink, pb.CreateSignInLinkRequest(
        subject_id="mei", jurisdiction="CN"))

    assert (other.code(), error_info(other).reason) == (grpc.StatusCode.NOT_FOUND, "CONTROLLER_NOT_FOUND")
    assert (unknown.code(), error_info(unknown).reason) == (grpc.StatusCode.NOT_FOUND, "CONTROLLER_NOT_FOUND")
    assert other.details().replace("acme-campus", "<id>") == unknown.details().replace("never-registered", "<id>")
    assert sorted(field_violations(bad)) == [("jurisdiction", "string.pattern"), ("language", "language.supported"),
                                             ("subject_id", "required")]
    assert field_violations(unnamed) == [("controller_id", "required")]
    assert door.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_a_body_larger_than_any_form_is_refused_unread(harbour_links, harbour, visitor, admin, portal_app):
    url, subject = await sign_in_link(harbour_links)
    await visitor.sign_in(url)
    path = f"/{HARBOUR}/consents/{harbour['phone']}/grant"
    form = urlencode({**hidden_fields((await visitor.get(path)).text), "age": "30"}).encode()
    cookie = visitor._cookie_header()["cookie"]

    declared = await raw_post(portal_app.http_port, path, cookie, f"content-length: {70_000}", b"")
    chunks = [form] + [b"&p=" + b"x" * 1000] * 70  # no length given: counted as it arrives
    chunked = await raw_post(portal_app.http_port, path, cookie, "transfer-encoding: chunked",
                             b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n")
    check = await admin.CheckConsent(cpb.CheckConsentRequest(subject_id=subject, purpose_id=harbour["phone"],
                                                            controller_id=HARBOUR))

    assert declared.startswith(b"HTTP/1.1 413") and chunked.startswith(b"HTTP/1.1 413")
    assert check.decision == cpb.DECISION_DENY


async def raw_post(port: int, path: str, cookie: str, length: str, body: bytes) -> bytes:
    """The answer's first bytes to a POST written by hand (a client library would not send these)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"POST {path} HTTP/1.1\r\nhost: localhost\r\ncookie: {cookie}\r\n"
                 f"content-type: application/x-www-form-urlencoded\r\n{length}\r\n\r\n".encode() + body)
    await writer.drain()
    answer = await reader.read(200)
    writer.close()
    return answer
