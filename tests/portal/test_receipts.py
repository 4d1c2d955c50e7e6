"""A person downloads the signed receipt of a consent in force, from the card of that consent, and can
check its signature with nothing but the file."""

import base64
import html
import json

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from consentry.consent.v1 import consent_pb2 as cpb
from tests.portal.fixtures import BACKEND, HARBOUR
from tests.portal.test_guardians import guardian_link
from tests.portal.visitor import hidden_fields, sign_in_link
from tests.support import unique

pytestmark = BACKEND


def checks(public_key_pem: str, signed: bytes, signature: bytes) -> bool:
    try:
        load_pem_public_key(public_key_pem.encode()).verify(signature, signed)
        return True
    except InvalidSignature:
        return False


async def granted(visitor, purpose_id: str, ward: int = 0, age: str = "30") -> None:
    path = f"/{HARBOUR}/consents/{purpose_id}/grant?for={ward}"
    answer = await visitor.post(path, {**hidden_fields((await visitor.get(path)).text), "age": age})
    assert answer.status_code == 303, answer.text


async def test_the_signed_receipt_downloads_and_checks_with_the_key_it_carries(harbour_links, harbour, visitor, admin):
    url, person = await sign_in_link(harbour_links)
    await visitor.sign_in(url)
    purpose = harbour["gate"]
    before = (await visitor.get(f"/{HARBOUR}/consents")).text
    await granted(visitor, purpose)

    card = (await visitor.get(f"/{HARBOUR}/consents")).text
    page = await visitor.get(f"/{HARBOUR}/consents/{purpose}/receipt?for=0")
    download = await visitor.get(f"/{HARBOUR}/consents/{purpose}/receipt.json?for=0")
    readable = await visitor.get(f"/{HARBOUR}/consents/{purpose}/receipt.html?for=0")
    bundle = download.json()
    signed, signature = bundle["receipt_json"].encode(), base64.b64decode(bundle["signature"])
    service_key = await admin.GetReceiptKey(cpb.GetReceiptKeyRequest())

    assert f"/{purpose}/receipt" not in before and f"/{purpose}/receipt?for=0" in card
    assert page.status_code == 200 and bundle["receipt"]["consentReceiptID"] in page.text
    assert download.headers["content-disposition"] == f'attachment; filename="receipt-{purpose}.json"'
    assert (bundle["key_id"], bundle["public_key_pem"]) == (service_key.key_id, service_key.public_key_pem)
    assert json.loads(signed) == bundle["receipt"] and bundle["receipt"]["piiPrincipalId"] == person
    assert bundle["receipt"]["collectionMethod"] == "web_form"
    assert checks(bundle["public_key_pem"], signed, signature)
    assert not checks(bundle["public_key_pem"], signed.replace(b'"web_form"', b'"in_app_ui"'), signature)
    assert readable.headers["content-disposition"] == f'attachment; filename="receipt-{purpose}.html"'
    assert readable.headers["content-type"].startswith("text/html") and '<html lang="en">' in readable.text
    assert bundle["receipt_json"] in html.unescape(readable.text)  # the readable copy ends with what was signed


async def test_a_guardian_downloads_the_receipt_of_the_consent_they_gave_for_a_child(harbour_links, harbour, visitor):
    child = unique("child")
    url, guardian = await guardian_link(harbour_links, child)
    await visitor.sign_in(url)
    await granted(visitor, harbour["gate"], ward=1, age="9")

    theirs = (await visitor.get(f"/{HARBOUR}/consents/{harbour['gate']}/receipt.json?for=1")).json()["receipt"]
    own = await visitor.get(f"/{HARBOUR}/consents/{harbour['gate']}/receipt?for=0")

    assert theirs["piiPrincipalId"] == child
    assert theirs["actor"] == {"kind": "guardian", "guardianId": guardian,
                               "guardianVerificationRef": "household-register-77"}
    assert own.status_code == 404  # the guardian gave nothing in their own name


async def test_a_withdrawn_or_never_given_consent_has_no_receipt_and_says_why(harbour_links, harbour, visitor):
    url, _ = await sign_in_link(harbour_links)
    await visitor.sign_in(url)
    purpose = harbour["gate"]
    never = await visitor.get(f"/{HARBOUR}/consents/{purpose}/receipt.json?for=0")
    await granted(visitor, purpose)
    given = await visitor.get(f"/{HARBOUR}/consents/{purpose}/receipt.json?for=0")
    path = f"/{HARBOUR}/consents/{purpose}/withdraw?for=0"
    await visitor.post(path, hidden_fields((await visitor.get(path)).text))
    withdrawn = await visitor.get(f"/{HARBOUR}/consents/{purpose}/receipt?for=0")
    other = await visitor.get(f"/{HARBOUR}/consents/no-such-purpose/receipt?for=0")

    assert never.status_code == 404 and given.status_code == 200
    assert withdrawn.status_code == 409 and "not in force" in withdrawn.text
    assert f"/{purpose}/receipt" not in (await visitor.get(f"/{HARBOUR}/consents")).text
    assert other.status_code == 404
