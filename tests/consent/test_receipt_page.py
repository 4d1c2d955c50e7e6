"""RenderReceipt: the signed receipt a person was given, as a page in their language that ends with the
signed JSON itself; and nothing at all for a receipt this service did not sign, byte for byte."""

import json
from datetime import timedelta
from html.parser import HTMLParser

import grpc
import pytest

from consentry.consent.v1 import consent_pb2 as pb
from consentry_client import error_info
from services.common.grpc_errors import field_violations
from services.common.signing import Ed25519Signer
from services.consent.api.receipt_labels import LABELS, TERMS
from services.consent.api.receipt_page import LANGUAGES
from services.consent.domain.model import ActorKind, CollectionMethod, DataCategory, LegalBasis, StorageLocation
from tests.consent.builders import NOTICE_ZH, check, grant, registered_purpose, time_passes
from tests.keyvault.test_data_keys import refused
from tests.support import unique


class Page(HTMLParser):
    """What a test reads of a page: its language, its text, each definition list row (label: value), the
    <pre>'s text, and every tag with its attributes."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.lang, self.tags, self.text, self.pre, self.rows = "", [], [], [], {}
        self._in: str | None = None  # "pre", "dt" or "dd" while inside one
        self._label, self._value = [], []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self.lang = dict(attrs).get("lang", self.lang) if tag == "html" else self.lang
        if tag in ("pre", "dt", "dd") and self._in is None:
            self._in = tag

    def handle_endtag(self, tag):
        if tag == self._in:
            self._in = None
            if tag == "dd":
                self.rows[" ".join("".join(self._label).split())] = " ".join("".join(self._value).split())
                self._label, self._value = [], []

    def handle_data(self, data):
        {"pre": self.pre, "dt": self._label, "dd": self._value}.get(self._in, self.text).append(data)
        if self._in in ("dt", "dd"):
            self.text.append(data)

    @property
    def words(self) -> str:
        return " ".join(" ".join(self.text).split())


def self_contained(html: str) -> bool:
    """No script, and no reference to anything outside the document (src, href, url(), @import)."""
    page = Page(html)
    return not any(tag in ("script", "link", "img", "iframe", "object", "embed", "base") or "src" in attrs
                   or "href" in attrs or any(name.startswith("on") for name in attrs) for tag, attrs in page.tags) \
        and "url(" not in html and "@import" not in html


async def granted_receipt(admin, gate, **overrides) -> tuple[pb.Purpose, pb.GrantConsentResponse]:
    p = await registered_purpose(admin, recipients=["acme-security"])
    fields = dict(text=NOTICE_ZH, language="zh-CN") | overrides
    return p, await gate.GrantConsent(grant(unique("subj"), p.purpose_id, **fields))


def render(receipt: pb.ConsentReceipt, language: str = "", **changes) -> pb.RenderReceiptRequest:
    fields = dict(receipt_json=receipt.receipt_json, signature=receipt.signature, key_id=receipt.key_id,
                  language=language) | changes
    return pb.RenderReceiptRequest(**fields)


async def test_a_receipt_reads_in_chinese_and_english_and_ends_with_the_signed_json(admin, gate):
    p, granted = await granted_receipt(admin, gate)

    zh = await gate.RenderReceipt(render(granted.receipt, "zh-CN"))
    en = await gate.RenderReceipt(render(granted.receipt, "en"))
    own = await gate.RenderReceipt(render(granted.receipt))  # the receipt's own language: its notice's

    assert (zh.language, en.language, own.language) == ("zh-CN", "en", "zh-CN")
    assert own.html == zh.html
    for page, words in ((zh, ["同意回执", "您同意的内容", "人脸特征模板", "存储在处理者的服务器上",
                              "单独同意", "如何撤回", "不使用人脸识别的替代方式", "接收信息的第三方", "已签名的回执",
                              "UTC"]),
                        (en, ["Consent receipt", "What you agreed to", "Face template", "On the controller's servers",
                              "Separate consent", "How to withdraw", "Alternative without face recognition",
                              "Third parties who receive it", "The signed receipt", "UTC"])):
        shown = Page(page.html)
        assert shown.lang == page.language
        assert page.html.startswith("<!DOCTYPE html>") and "<main>" in page.html and "<title>" in page.html
        for word in [*words, p.name, p.purpose_id, granted.consent.notice_hash, "acme-campus", "acme-security",
                     p.withdrawal_method, p.non_face_alternative, granted.receipt.key_id, "GetReceiptKey"]:
            assert word in shown.words, word
        # The signed bytes themselves, escaped into the page and read back exactly.
        assert "".join(shown.pre).encode() == granted.receipt.receipt_json
        assert self_contained(page.html)
    assert "您同意的内容" not in Page(en.html).words and "What you agreed to" not in Page(zh.html).words


async def test_a_receipt_in_a_language_without_a_page_reads_in_english(admin, gate):
    _, granted = await granted_receipt(admin, gate, text="We store a template of your face to open the gate."
                                       " You can use your badge instead.", language="en")
    shown = await gate.RenderReceipt(render(granted.receipt))

    assert json.loads(granted.receipt.receipt_json)["language"] == "en"
    assert shown.language == "en" and Page(shown.html).lang == "en"


async def test_a_guardians_grant_says_who_gave_it(admin, gate):
    guardian = pb.Actor(kind=pb.ACTOR_KIND_GUARDIAN, guardian_id=unique("parent"), guardian_verification_ref="id-7")
    _, granted = await granted_receipt(admin, gate, subject_age=9, actor=guardian)

    zh = Page((await gate.RenderReceipt(render(granted.receipt, "zh-CN"))).html).words
    en = Page((await gate.RenderReceipt(render(granted.receipt, "en"))).html).words

    assert "您的监护人代为同意" in zh and guardian.guardian_id in zh
    assert "Your guardian, on your behalf" in en and guardian.guardian_id in en


def _one_byte_changed(data: bytes) -> bytes:
    i = data.index(b'"sensitive":true') + len(b'"sensitive":')
    return data[:i] + b"T" + data[i + 1:]


async def test_an_altered_or_foreign_receipt_is_refused_with_its_reason_and_nothing_changes(admin, gate):
    _, granted = await granted_receipt(admin, gate)
    _, other = await granted_receipt(admin, gate)
    receipt = granted.receipt
    before = await gate.GetConsentHistory(pb.GetConsentHistoryRequest(subject_id=granted.consent.subject_id,
                                                                      purpose_id=granted.consent.purpose_id))

    altered = await refused(gate.RenderReceipt, render(receipt, receipt_json=_one_byte_changed(receipt.receipt_json)))
    wrong_signature = await refused(gate.RenderReceipt, render(receipt, signature=other.receipt.signature))
    wrong_key = await refused(gate.RenderReceipt, render(receipt, key_id="0123456789abcdef"))

    for error, reason in ((altered, "RECEIPT_SIGNATURE_INVALID"), (wrong_signature, "RECEIPT_SIGNATURE_INVALID"),
                          (wrong_key, "RECEIPT_KEY_UNKNOWN")):
        assert (error.code(), error_info(error).reason) == (grpc.StatusCode.INVALID_ARGUMENT, reason)
        assert "<html" not in error.details()
    assert error_info(wrong_key).metadata["receipt_key_id"] == receipt.key_id
    after = await gate.GetConsentHistory(pb.GetConsentHistoryRequest(subject_id=granted.consent.subject_id,
                                                                     purpose_id=granted.consent.purpose_id))
    assert after == before
    assert (await gate.CheckConsent(check(granted.consent.subject_id, granted.consent.purpose_id))).decision == \
        pb.DECISION_ALLOW


async def test_oversized_or_ill_formed_requests_name_each_bad_field(admin, gate):
    _, granted = await granted_receipt(admin, gate)
    receipt = granted.receipt

    cases = {
        ("receipt_json", "bytes.max_len"): render(receipt, receipt_json=b" " * (64 * 1024 + 1)),
        ("receipt_json", "required"): render(receipt, receipt_json=b""),
        ("signature", "bytes.len"): render(receipt, signature=receipt.signature[:-1]),
        ("key_id", "string.pattern"): render(receipt, key_id="key\nid"),
        ("language", "string.in"): render(receipt, "fr"),
    }
    for (field, rule), request in cases.items():
        error = await refused(gate.RenderReceipt, request)
        assert (error.code(), error_info(error).reason) == (grpc.StatusCode.INVALID_ARGUMENT, "REQUEST_INVALID")
        assert field_violations(error) == [(field, rule)], (field, field_violations(error))


@pytest.mark.parametrize(("document", "problem"), [
    (b"{not json", "not UTF-8 JSON"),
    (b'"a string"', "not a JSON object"),
    (b'{"version":"KI-CR-v1.0.0"}', "version must be KI-CR-v1.1.0"),
    ("drop:services", "services is missing"),
    ("drop:eventTime", "eventTime is missing"),
    ("set:legalBasis=consent-ish", "legalBasis 'consent-ish' is not a known value"),
])
async def test_a_signed_document_that_is_no_receipt_is_refused_as_malformed(admin, gate, run_dir, document, problem):
    """Only this service's key could sign it, so the key file stands in for a bug that signed such bytes."""
    _, granted = await granted_receipt(admin, gate)
    signer = Ed25519Signer.from_file(run_dir / "keys" / "receipts.pem")
    if isinstance(document, str):
        receipt = json.loads(granted.receipt.receipt_json)
        action, _, name = document.partition(":")
        if action == "drop":
            receipt.pop(name)
        else:
            key, _, value = name.partition("=")
            receipt["services"][0]["purposes"][0][key] = value
        document = json.dumps(receipt).encode()

    error = await refused(gate.RenderReceipt, pb.RenderReceiptRequest(
        receipt_json=document, signature=signer.sign(document), key_id=signer.key_id))

    assert (error.code(), error_info(error).reason) == (grpc.StatusCode.INVALID_ARGUMENT, "RECEIPT_MALFORMED")
    assert problem in error.details()


async def test_a_client_renders_only_receipts_of_its_own_purposes(admin, gate, connect):
    _, granted = await granted_receipt(admin, gate)

    not_granted = await refused(connect("door-app").RenderReceipt, render(granted.receipt))
    other_purpose = await refused(connect("door-receipts").RenderReceipt, render(granted.receipt))

    assert (not_granted.code(), error_info(not_granted).reason) == (grpc.StatusCode.PERMISSION_DENIED,
                                                                    "RPC_NOT_GRANTED")
    assert (other_purpose.code(), error_info(other_purpose).reason) == (grpc.StatusCode.PERMISSION_DENIED,
                                                                        "PURPOSE_NOT_GRANTED")


def test_every_label_and_every_coded_value_has_its_words_in_each_language():
    coded = {member for enum in (DataCategory, StorageLocation, LegalBasis, CollectionMethod, ActorKind)
             for member in enum}
    for language in LANGUAGES:
        assert LABELS[language].keys() == LABELS["en"].keys(), language
        assert TERMS[language].keys() == coded, language
        assert all(text.strip() for text in [*LABELS[language].values(), *TERMS[language].values()])


async def test_a_receipt_issued_again_is_the_one_given_at_the_grant_and_only_while_it_is_in_force(admin, gate):
    p, granted = await granted_receipt(admin, gate)
    person = granted.consent.subject_id
    again = (await gate.IssueReceipt(pb.IssueReceiptRequest(subject_id=person, purpose_id=p.purpose_id))).receipt
    assert again == granted.receipt  # the same bytes, so the same deterministic Ed25519 signature

    await gate.WithdrawConsent(pb.WithdrawConsentRequest(subject_id=person, purpose_id=p.purpose_id,
                                                         actor=pb.Actor(kind=pb.ACTOR_KIND_SUBJECT),
                                                         idempotency_key=unique("wd")))
    withdrawn = await refused(gate.IssueReceipt, pb.IssueReceiptRequest(subject_id=person, purpose_id=p.purpose_id))
    assert (withdrawn.code(), error_info(withdrawn).reason) == (grpc.StatusCode.FAILED_PRECONDITION,
                                                                "CONSENT_NOT_ACTIVE")
    regranted = await gate.GrantConsent(grant(person, p.purpose_id, text=NOTICE_ZH, language="zh-CN"))
    latest = (await gate.IssueReceipt(pb.IssueReceiptRequest(subject_id=person, purpose_id=p.purpose_id))).receipt
    assert latest == regranted.receipt and latest.receipt_json != granted.receipt.receipt_json
    assert json.loads(latest.receipt_json)["consentReceiptID"] != json.loads(granted.receipt.receipt_json)[
        "consentReceiptID"]  # a grant of its own, a receipt of its own

    never = await refused(gate.IssueReceipt, pb.IssueReceiptRequest(subject_id=unique("subj"), purpose_id=p.purpose_id))
    assert (never.code(), error_info(never).reason) == (grpc.StatusCode.NOT_FOUND, "CONSENT_NOT_FOUND")
    bad = await refused(gate.IssueReceipt, pb.IssueReceiptRequest(subject_id="", purpose_id=p.purpose_id))
    assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT and [f for f, _ in field_violations(bad)] == ["subject_id"]


async def test_no_receipt_is_issued_for_a_grant_past_its_validity_before_the_sweep_records_it(admin, gate, postgres):
    p, granted = await granted_receipt(admin, gate)
    person = granted.consent.subject_id
    await time_passes(postgres, person, p.purpose_id, timedelta(days=4 * 365))  # past retention and inactivity

    expired = await refused(gate.IssueReceipt, pb.IssueReceiptRequest(subject_id=person, purpose_id=p.purpose_id))
    decided = await gate.CheckConsent(check(person, p.purpose_id))

    assert (expired.code(), error_info(expired).reason) == (grpc.StatusCode.FAILED_PRECONDITION, "CONSENT_NOT_ACTIVE")
    assert decided.decision == pb.DECISION_DENY  # what the gate answers, the receipt agrees with
