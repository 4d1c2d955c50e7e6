"""Kantara Consent Receipt 1.1 (beside ISO/IEC TS 27560, the record REQUIREMENTS.md asks for): what the
person is given of their consent, one test per requirement."""

import json

import grpc
from consentry_client import error_info
from tests.consent.test_receipt_page import Page, granted_receipt, render
from tests.keyvault.test_data_keys import refused
from tests.legal import requirement


@requirement("Kantara CR 1.1 §4.7; GDPR 7(1), 12(1)", "The person can read their signed receipt in their own language"
             " (zh-CN or en): who, what, where, on which basis and notice, when, how and by whom, until when, how to"
             " withdraw, the non-face alternative; a receipt the service did not sign is not shown")
async def test_kantara_4_7_the_signed_receipt_reads_in_the_persons_language(admin, gate):
    p, granted = await granted_receipt(admin, gate)
    receipt = json.loads(granted.receipt.receipt_json)

    page = await gate.RenderReceipt(render(granted.receipt))  # no language asked: the notice's own, zh-CN
    altered = await refused(gate.RenderReceipt, render(
        granted.receipt, receipt_json=granted.receipt.receipt_json.replace(b"acme-security", b"acme-marketing")))

    rows = Page(page.html).rows
    assert page.language == "zh-CN" and Page(page.html).lang == "zh-CN"
    assert rows["个人信息处理者"] == "acme-campus Ltd."  # as registered, with where to reach it
    assert (rows["处理者地址"], rows["行使权利的联系方式"]) == ("88 Science Park Road, Shenzhen", "dpo@acme-campus.example")
    assert (rows["处理目的"], rows["目的标识"]) == (p.name, p.purpose_id)
    assert rows["处理的个人信息"] == "人脸特征模板"
    assert rows["存储位置"] == "存储在处理者的服务器上"
    assert rows["处理依据"].startswith("单独同意")
    assert (rows["告知版本"], rows["告知文本的 SHA-256 摘要"]) == ("1", granted.consent.notice_hash)
    assert rows["告知语言"].startswith("中文")
    assert rows["同意时间"].endswith(granted.consent.granted_at.ToDatetime().strftime("UTC %H:%M:%S"))
    assert rows["有效期至"].startswith(f"{granted.consent.expires_at.ToDatetime().year}年")
    assert (rows["收集方式"], rows["同意人"]) == ("应用内界面", "本人")
    assert rows["如何撤回"].startswith(p.withdrawal_method) and "您有权随时撤回同意" in rows["如何撤回"]
    assert rows["不使用人脸识别的替代方式"].startswith(p.non_face_alternative)
    assert rows["接收信息的第三方"] == "acme-security"
    assert rows["回执编号"] == receipt["consentReceiptID"]
    assert rows["密钥标识"] == granted.receipt.key_id
    assert "".join(Page(page.html).pre).encode() == granted.receipt.receipt_json
    assert (altered.code(), error_info(altered).reason) == (grpc.StatusCode.INVALID_ARGUMENT,
                                                            "RECEIPT_SIGNATURE_INVALID")
