"""The human-readable page of an access export, in English and Simplified Chinese: the same data as
the JSON, laid out for the person it concerns. Plain Python; every value is escaped."""

import html
import json

LABELS = {
    "en": {"title": "Your data held by Consentry and the systems it serves", "request": "Request",
           "received": "Received", "consents": "Your consents", "history": "Consent history",
           "key": "Your encryption key", "audit": "Recorded events", "processors": "Data held by each system",
           "none": "None", "lang": "en"},
    "zh-CN": {"title": "Consentry 及其服务的系统所持有的您的个人信息", "request": "请求编号",
              "received": "收到时间", "consents": "您的同意记录", "history": "同意变更历史",
              "key": "您的加密密钥", "audit": "审计记录", "processors": "各系统持有的数据",
              "none": "无", "lang": "zh-CN"},
}

# The languages the page is written in, as BCP 47 tags.
LANGUAGES = tuple(LABELS)


def _block(value: object, none: str) -> str:
    if not value:
        return f"<p>{html.escape(none)}</p>"
    return f"<pre>{html.escape(json.dumps(value, ensure_ascii=False, indent=2))}</pre>"


def render(export: dict, language: str) -> bytes:
    t = LABELS[language]
    record = export.get("consentry", {})
    sections = [
        (t["consents"], record.get("consents")), (t["history"], record.get("consentHistory")),
        (t["key"], record.get("keyStatus")), (t["audit"], record.get("auditEntries")),
        (t["processors"], export.get("processors")),
    ]
    body = "".join(f"<h2>{html.escape(title)}</h2>{_block(value, t['none'])}" for title, value in sections)
    page = (f'<!DOCTYPE html><html lang="{t["lang"]}"><head><meta charset="utf-8">'
            f"<title>{html.escape(t['title'])}</title></head><body><h1>{html.escape(t['title'])}</h1>"
            f"<p>{html.escape(t['request'])}: {html.escape(str(export.get('requestId', '')))}<br>"
            f"{html.escape(t['received'])}: {html.escape(str(export.get('receivedAt', '')))}</p>{body}</body></html>")
    return page.encode()
