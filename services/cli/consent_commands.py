"""`consentry consent ...`: try the consent service of a running dev stack from a terminal."""

import argparse
import base64
import binascii
import json
import sys
import uuid
from datetime import datetime
from pathlib import Path

from google.protobuf import timestamp_pb2

from consentry.consent.v1 import consent_pb2 as pb
from consentry.consent.v1 import consent_pb2_grpc
from consentry_client.pages import items, whole
from services.cli.client import DEFAULT_RUN_DIR, CliError, channel, load_endpoints
from services.cli.output import add_json_flag, plain, show


# The commands about a subject whose request names the controller it is asked in; an operator must name
# it. The others name a purpose, whose id is unique within its controller only.
SUBJECT_IN_CONTROLLER = ("check", "list")


def add_parser(commands: argparse._SubParsersAction) -> None:
    consent = commands.add_parser("consent", help="call the consent service of the dev stack")
    actions = consent.add_subparsers(dest="action", required=True)
    for name in ("check", "grant", "withdraw", "history", "as-of", "list", "purpose", "purposes"):
        p = actions.add_parser(name, help="the purposes the client may use" if name == "purposes"
                               else None)
        if name not in ("purpose", "purposes"):
            p.add_argument("--subject", required=True)
        if name not in ("list", "purposes"):
            p.add_argument("--purpose", required=True)
        if name == "purposes":
            p.add_argument("--controller", default="", help="only this controller's purposes")
        elif name in SUBJECT_IN_CONTROLLER:
            p.add_argument("--controller", default="",
                           help="the controller the person is a subject of: an operator's client must name it"
                                " (the same person at two controllers is two subjects); a controller's client"
                                " may leave it out (its own)")
        else:
            p.add_argument("--controller", default="",
                           help="the controller whose purpose it is: a controller's client may leave it out (its"
                                " own); an operator's client must name it where several controllers use the id")
        p.add_argument("--client", default="demo-gate", help="client certificate to call with")
        p.add_argument("--run-dir", type=Path, default=DEFAULT_RUN_DIR, help="run directory of `consentry dev up`")
        add_json_flag(p)
        if name == "as-of":
            p.add_argument("--at", required=True, type=_moment,
                           help="ISO 8601 time with its offset, e.g. 2026-11-30T09:00:00+08:00")
        if name == "grant":
            p.add_argument("--age", type=int, required=True,
                           help="the person's age in years, as the app knows it: below the jurisdiction's"
                                " guardian age a guardian must grant (--guardian)")
            p.add_argument("--alternative-offered", action=argparse.BooleanOptionalAction, required=True,
                           help="whether the person was offered the purpose's non-face alternative (recorded"
                                " with the consent)")
            p.add_argument("--language", default="en")
            p.add_argument("--jurisdiction", default="CN")
            p.add_argument("--guardian", default="", help="guardian id (grant on behalf of a child)")
            p.add_argument("--guardian-verification", default="")
            p.add_argument("--receipt-out", type=Path,
                           help="write the signed receipt here (what `consent receipt --receipt-file` reads)")
        p.set_defaults(run=run)
    receipt = actions.add_parser("receipt", help="a signed receipt as a readable HTML page, on stdout")
    receipt.add_argument("--receipt-file", type=Path, required=True,
                         help="what `grant --receipt-out` wrote (or `grant --json` printed); or the receipt JSON"
                              " exactly as signed, with --signature")
    receipt.add_argument("--signature", default="", help="the receipt's signature, base64 (for a bare receipt)")
    receipt.add_argument("--key-id", default="", help="the signing key's id (default: the service's receipt key)")
    receipt.add_argument("--language", default="", help="zh-CN or en (default: the receipt's own language)")
    receipt.add_argument("--client", default="demo-gate", help="client certificate to call with")
    receipt.add_argument("--run-dir", type=Path, default=DEFAULT_RUN_DIR, help="run directory of `consentry dev up`")
    receipt.set_defaults(run=run)


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no offset (add Z or +08:00)")
    return moment


async def run(args: argparse.Namespace) -> int:
    endpoints = load_endpoints(args.run_dir)
    async with channel(endpoints, "consent", args.client) as ch:
        await _call(consent_pb2_grpc.ConsentServiceStub(ch), args)
    return 0


def _signature(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise CliError("--signature must be base64 (as `consent grant` prints it)") from None


async def _render_receipt(stub: consent_pb2_grpc.ConsentServiceStub, args: argparse.Namespace) -> None:
    receipt_json, signature, key_id = _receipt_file(args.receipt_file.read_bytes(), args.signature)
    key_id = args.key_id or key_id or (await stub.GetReceiptKey(pb.GetReceiptKeyRequest())).key_id
    page = await stub.RenderReceipt(pb.RenderReceiptRequest(receipt_json=receipt_json, signature=signature,
                                                            key_id=key_id, language=args.language))
    sys.stdout.write(page.html)


def _receipt_file(content: bytes, signature: str) -> tuple[bytes, bytes, str]:
    """The signed bytes, signature and key id: from what `grant` wrote (it names them), or from a bare
    receipt and --signature. Signed JSON never ends in white space: a line break an editor added is not
    part of it."""
    try:
        written = json.loads(content)
    except ValueError:
        written = None
    if isinstance(written, dict) and isinstance(written.get("receipt"), str) and "signature" in written:
        return written["receipt"].encode(), _signature(str(written["signature"])), str(written.get("key_id", ""))
    if not signature:
        raise CliError("--signature is needed with a bare receipt (or give the file `grant --receipt-out` wrote)")
    return content.rstrip(b" \t\r\n"), _signature(signature), ""


def _purpose_row(p: pb.Purpose) -> dict:
    return {"purpose_id": p.purpose_id, "controller_id": p.controller_id, "notice": p.current_notice_version,
            "storage": pb.StorageLocation.Name(p.storage_location).removeprefix("STORAGE_LOCATION_"),
            "name": p.name}


async def _call(stub: consent_pb2_grpc.ConsentServiceStub, args: argparse.Namespace) -> None:
    key = str(uuid.uuid4())
    if args.action == "receipt":
        await _render_receipt(stub, args)
    elif args.action == "check":
        show(await stub.CheckConsent(pb.CheckConsentRequest(subject_id=args.subject, purpose_id=args.purpose,
                                                            controller_id=args.controller)), args.json)
    elif args.action == "purpose":
        show(await stub.GetPurpose(pb.GetPurposeRequest(purpose_id=args.purpose, controller_id=args.controller)),
             args.json)
    elif args.action == "purposes":
        show([_purpose_row(p) async for p in items(stub.ListPurposes, pb.ListPurposesRequest(
            controller_id=args.controller), "purposes")], args.json, "purposes")
    elif args.action == "list":
        show(await whole(stub.ListConsents, pb.ListConsentsRequest(subject_id=args.subject,
                                                                   controller_id=args.controller), "consents"),
             args.json)
    elif args.action == "history":
        show(await whole(stub.GetConsentHistory, pb.GetConsentHistoryRequest(
            subject_id=args.subject, purpose_id=args.purpose, controller_id=args.controller), "events"), args.json)
    elif args.action == "as-of":
        moment = timestamp_pb2.Timestamp()
        moment.FromDatetime(args.at)
        show(await stub.GetConsentAsOf(pb.GetConsentAsOfRequest(subject_id=args.subject, purpose_id=args.purpose,
                                                                as_of=moment, controller_id=args.controller)),
             args.json)
    elif args.action == "withdraw":
        show(await stub.WithdrawConsent(pb.WithdrawConsentRequest(
            subject_id=args.subject, purpose_id=args.purpose, actor=pb.Actor(kind=pb.ACTOR_KIND_SUBJECT),
            reason="withdrawn from the command line", idempotency_key=key, controller_id=args.controller)), args.json)
    elif args.action == "grant":
        # Show the person the current notice, then record that they accepted exactly that text.
        purpose = await stub.GetPurpose(pb.GetPurposeRequest(purpose_id=args.purpose, controller_id=args.controller))
        version = purpose.purpose.current_notice_version
        current = [n for n in purpose.notices if n.version == version]
        notice = next((n for n in current if n.language == args.language), None)
        if notice is None:
            raise CliError(f"purpose {args.purpose} has no notice in '{args.language}'; it has: "
                           + ", ".join(n.language for n in current))
        if not args.json:
            print(f"notice v{version} ({notice.language}): {notice.text}\n")
        actor = (pb.Actor(kind=pb.ACTOR_KIND_GUARDIAN, guardian_id=args.guardian,
                          guardian_verification_ref=args.guardian_verification)
                 if args.guardian else pb.Actor(kind=pb.ACTOR_KIND_SUBJECT))
        granted = await stub.GrantConsent(pb.GrantConsentRequest(
            subject_id=args.subject, purpose_id=args.purpose, notice_version=version,
            notice_language=notice.language, notice_hash=notice.content_hash,
            collection_method=pb.COLLECTION_METHOD_APP_SCREEN, evidence_ref="cli", actor=actor,
            subject_age=args.age, jurisdiction=args.jurisdiction, alternative_offered=args.alternative_offered,
            idempotency_key=key,
            controller_id=args.controller))
        receipt = {"receipt": granted.receipt.receipt_json.decode(),
                   "signature": base64.b64encode(granted.receipt.signature).decode(), "key_id": granted.receipt.key_id}
        if args.receipt_out:
            args.receipt_out.write_text(json.dumps(receipt, indent=2, ensure_ascii=False) + "\n")
        if args.json:
            show({"notice": plain(notice), "consent": plain(granted.consent), **receipt}, True)
            return
        show(granted.consent, False, "consent")
        if args.receipt_out:
            print(f"signed receipt written to {args.receipt_out}: `consentry consent receipt --receipt-file"
                  f" {args.receipt_out}` shows it")
            return
        for name, value in receipt.items():  # one line each, to copy (see `consent receipt`)
            print(f"{name.replace('_', ' ')}: {value}")
