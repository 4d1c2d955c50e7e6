"""`consentry dsr ...`: data-subject requests for operators and DPOs on a running dev stack."""

import argparse
import asyncio
import csv
import io
import json
import time
import uuid
from pathlib import Path

import grpc

from consentry.dsr.v1 import dsr_pb2 as pb
from consentry.dsr.v1 import dsr_pb2_grpc
from consentry_client.pages import items
from services.cli.client import DEFAULT_RUN_DIR, CliError, channel, load_endpoints
from services.cli.output import add_json_flag, progress_bar, show, waiting
from services.common.validation import LANGUAGE_TAG

TYPES = {name.removeprefix("REQUEST_TYPE_").lower(): number for name, number in pb.RequestType.items() if number}
STATUSES = {name.removeprefix("REQUEST_STATUS_").lower(): number for name, number in pb.RequestStatus.items()
            if number}


def add_parser(commands: argparse._SubParsersAction) -> None:
    dsr = commands.add_parser("dsr", help="data-subject requests: submit, list, show, acknowledge, verify, extend,"
                                          " reject, export, release")
    actions = dsr.add_subparsers(dest="action", required=True)
    submit = actions.add_parser("submit", help="record a request")
    submit.add_argument("--type", choices=TYPES, required=True)
    submit.add_argument("--subject", required=True)
    submit.add_argument("--controller", default="", help="the controller the subject is a subject of (an operator must"
                        " name it; a controller's client may leave it out: its own)")
    submit.add_argument("--jurisdiction", default="CN", help='ISO 3166 code, e.g. CN, DE, US-CA')
    submit.add_argument("--evidence-method", default="in-person-id-check")
    submit.add_argument("--evidence-ref", default="front-desk")
    submit.add_argument("--purpose", default="", help="WITHDRAWAL: the purpose")
    submit.add_argument("--correct", action="append", default=[], type=correction, metavar="FIELD=VALUE",
                        help="CORRECTION")
    many = actions.add_parser("submit-many", help="record every request of a CSV file (type,subject,controller,"
                              "jurisdiction[,evidence_method,evidence_ref,purpose]); safe to run again")
    many.add_argument("file", type=Path)
    listing = actions.add_parser("list", help="requests, overdue first")
    listing.add_argument("--status", choices=STATUSES)
    listing.add_argument("--overdue", action="store_true", help="past the deadline or the one for acknowledging")
    listing.add_argument("--due-within-days", type=int, default=0)
    listing.add_argument("--subject", default="")
    listing.add_argument("--controller", default="", help="only this controller's requests (with --subject an operator"
                         " must name it: the same person at two controllers is two subjects)")
    helps = {"acknowledge": "confirm to the person that the request was received (CCPA: within 10 business days)",
             "export": "write an access request's export (JSON and pages) to review it",
             "release": "the export was reviewed: release it to the person"}
    for name in ("show", "acknowledge", "verify", "extend", "reject", "export", "release"):
        p = actions.add_parser(name, help=helps.get(name))
        p.add_argument("request_id")
        if name == "verify":
            p.add_argument("--refuse", metavar="NOTE", help="the evidence is not enough: reject with this note")
        if name in ("show", "verify"):
            p.add_argument("--wait", action="store_true",
                           help="wait until the request settles (completed, partly or rejected), and show it then")
            p.add_argument("--wait-limit", type=_seconds, default=300.0, metavar="SECONDS",
                           help="give up waiting after this long (default 300)")
        if name == "extend":
            p.add_argument("--reason", required=True)
        if name == "release":
            p.add_argument("--note", default="", help="what the review found or left out, for the timeline")
        if name == "reject":
            p.add_argument("--code", required=True)
            p.add_argument("--explanation", required=True)
            p.add_argument("--complaint-route", required=True)
        if name == "export":
            p.add_argument("--out-dir", type=Path, default=Path("."))
    for p in actions.choices.values():
        p.add_argument("--client", default="admin", help="client certificate to call with")
        p.add_argument("--run-dir", type=Path, default=DEFAULT_RUN_DIR, help="run directory of `consentry dev up`")
        add_json_flag(p)
        p.set_defaults(run=run)


async def run(args: argparse.Namespace) -> int:
    bulk = bulk_rows(args.file) if args.action == "submit-many" else None  # every row checked before any is sent
    async with channel(load_endpoints(args.run_dir), "dsr", args.client) as ch:
        if bulk is not None:
            show(await _submit_many(dsr_pb2_grpc.DsrServiceStub(ch), args.file, bulk), args.json, "requests")
            return 0
        show(await _call(dsr_pb2_grpc.DsrServiceStub(ch), args), args.json, "requests" if args.action == "list" else "")
    return 0


def correction(text: str) -> tuple[str, str]:
    field, separator, value = text.partition("=")
    if not separator or not field:
        raise argparse.ArgumentTypeError(f"'{text}' is not FIELD=VALUE (e.g. display_name=Ann Example)")
    return field, value


def _key() -> str:
    return str(uuid.uuid4())


async def _call(stub: dsr_pb2_grpc.DsrServiceStub, args: argparse.Namespace):
    if args.action == "submit":
        corrections = dict(args.correct)
        answer = await stub.SubmitRequest(pb.SubmitRequestRequest(
            type=TYPES[args.type], subject_id=args.subject, jurisdiction=args.jurisdiction,
            evidence=pb.IdentityEvidence(method=args.evidence_method, reference=args.evidence_ref),
            purpose_id=args.purpose, corrections=corrections, idempotency_key=_key(), controller_id=args.controller))
        return summary(answer.request)
    if args.action == "list":
        request = pb.ListRequestsRequest(status=STATUSES.get(args.status or "", 0), overdue_only=args.overdue,
                                         due_within_days=args.due_within_days, subject_id=args.subject, page_size=500,
                                         controller_id=args.controller)
        return [summary(r) async for r in items(stub.ListRequests, request, "requests")]
    if args.action == "show":
        request = (await stub.GetRequest(pb.GetRequestRequest(request_id=args.request_id))).request
        return details(await _settled(stub, request, args.wait_limit) if args.wait else request)
    if args.action == "acknowledge":
        answer = await stub.AcknowledgeRequest(pb.AcknowledgeRequestRequest(request_id=args.request_id,
                                                                            idempotency_key=_key()))
        return summary(answer.request)
    if args.action == "verify":
        answer = await stub.VerifyIdentity(pb.VerifyIdentityRequest(
            request_id=args.request_id, verified=args.refuse is None, note=args.refuse or "", idempotency_key=_key()))
        return details(await _settled(stub, answer.request, args.wait_limit)) if args.wait else \
            summary(answer.request)
    if args.action == "extend":
        answer = await stub.ExtendDeadline(pb.ExtendDeadlineRequest(
            request_id=args.request_id, reason=args.reason, idempotency_key=_key()))
        return summary(answer.request)
    if args.action == "reject":
        answer = await stub.RejectRequest(pb.RejectRequestRequest(request_id=args.request_id, idempotency_key=_key(),
                                                                  reason=pb.RejectionReason(
            code=args.code, explanation=args.explanation, complaint_route=args.complaint_route)))
        return summary(answer.request)
    if args.action == "release":
        answer = await stub.ReleaseExport(pb.ReleaseExportRequest(request_id=args.request_id, note=args.note,
                                                                  idempotency_key=_key()))
        return details(answer.request)
    export = await stub.GetExport(pb.GetExportRequest(request_id=args.request_id))
    args.out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    pages = {f"{language}.html": page for language, page in sorted(export.html.items())
             if LANGUAGE_TAG.fullmatch(language)}  # a tag becomes part of a file name: nothing else does
    for suffix, data in {"json": export.export_json, **pages}.items():
        path = args.out_dir / f"{args.request_id}.{suffix}"
        path.write_bytes(data)
        written[suffix] = str(path)
    return written


BULK_COLUMNS = ("type", "subject", "controller", "jurisdiction")
BULK_MOST = 100_000
_BULK_KEYS = uuid.UUID("6f1c2a4e-1d7b-4c55-9a0e-3b8f2d6c9e10")  # the namespace of the rows' idempotency keys


def bulk_rows(path: Path) -> list[dict[str, str]]:
    """The file's requests, each row checked for what the command can tell alone (a type it knows, a
    subject, a controller); CliError naming the first bad row, before anything is sent."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CliError(f"{path}: not UTF-8 text; nothing was sent") from None
    with io.StringIO(text, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in BULK_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise CliError(f"{path}: the first line must name the columns {', '.join(BULK_COLUMNS)}"
                           f" (missing: {', '.join(missing)})")
        rows = list(reader)
    if not 0 < len(rows) <= BULK_MOST:
        raise CliError(f"{path}: {len(rows)} requests; a file holds 1 to {BULK_MOST}")
    for number, row in enumerate(rows, start=2):
        if row["type"] not in TYPES:
            raise CliError(f"{path}:{number}: type {row['type']!r} is none of {', '.join(TYPES)}; nothing was sent")
        if not row["subject"] or not row["controller"]:
            raise CliError(f"{path}:{number}: the subject and the controller are required; nothing was sent")
    return rows


def row_keys(path: Path, rows: list[dict[str, str]]) -> list[str]:
    """Each row's idempotency key: from the file's name, the row's own content and how many identical
    rows came before it, so a file sent again, or with another row fixed, records no row twice."""
    seen: dict[str, int] = {}
    keys = []
    for row in rows:
        content = json.dumps(row, sort_keys=True)
        seen[content] = seen.get(content, 0) + 1
        keys.append(str(uuid.uuid5(_BULK_KEYS, f"{path.name}|{content}|{seen[content]}")))
    return keys


async def _submit_many(stub: dsr_pb2_grpc.DsrServiceStub, path: Path, rows: list[dict[str, str]]) -> list[dict]:
    """Each row in turn, with a progress bar, under its own idempotency key (row_keys)."""
    done = []
    with progress_bar(f"submitting {path.name}") as tell:
        for number, (row, key) in enumerate(zip(rows, row_keys(path, rows), strict=True), start=2):
            try:
                answer = await stub.SubmitRequest(pb.SubmitRequestRequest(
                    type=TYPES[row["type"]], subject_id=row["subject"], controller_id=row["controller"],
                    jurisdiction=row["jurisdiction"], purpose_id=row.get("purpose") or "",
                    evidence=pb.IdentityEvidence(method=row.get("evidence_method") or "bulk-file",
                                                 reference=row.get("evidence_ref") or path.name),
                    idempotency_key=key))
            except grpc.aio.AioRpcError as error:
                raise CliError(f"{path}:{number}: {error.code().name}: {error.details()} ({len(done)} rows before it"
                               " are recorded; run the same file again once it is fixed: they are not recorded twice)"
                               ) from None
            done.append({"line": number, **summary(answer.request)})
            tell(len(done), len(rows))
    return done


SETTLED = (pb.REQUEST_STATUS_COMPLETED, pb.REQUEST_STATUS_PARTIALLY_COMPLETED, pb.REQUEST_STATUS_REJECTED)


async def _settled(stub: dsr_pb2_grpc.DsrServiceStub, request: pb.Request, limit_s: float) -> pb.Request:
    """The request once it settled, asked again every half second (a spinner meanwhile on a terminal);
    CliError when it has not within `limit_s`."""
    deadline = time.monotonic() + limit_s
    with waiting(f"request {request.request_id}") as tell:
        while request.status not in SETTLED:
            tell(pb.RequestStatus.Name(request.status).removeprefix("REQUEST_STATUS_"))
            if time.monotonic() >= deadline:
                raise CliError(f"request {request.request_id} is still "
                               f"{pb.RequestStatus.Name(request.status).removeprefix('REQUEST_STATUS_')} after"
                               f" {limit_s:g} s; `consentry dsr show {request.request_id}` tells later")
            await asyncio.sleep(0.5)
            request = (await stub.GetRequest(pb.GetRequestRequest(request_id=request.request_id))).request
    return request


def _seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < seconds <= 86400:
        raise argparse.ArgumentTypeError("between 0 and 86400 seconds")
    return seconds


def summary(r: pb.Request) -> dict:
    return {"requestId": r.request_id, "type": pb.RequestType.Name(r.type).removeprefix("REQUEST_TYPE_"),
            "controller": r.controller_id, "subject": r.subject_id,
            "status": pb.RequestStatus.Name(r.status).removeprefix("REQUEST_STATUS_"),
            "due": r.due_at.ToJsonString(), "reason": r.status_reason,
            "acknowledgementDue": _time(r, "acknowledgement_due_at"), "acknowledged": _time(r, "acknowledged_at")}


def _time(r: pb.Request, field: str) -> str | None:
    return getattr(r, field).ToJsonString() if r.HasField(field) else None


def details(r: pb.Request) -> dict:
    return {**summary(r), "jurisdiction": r.jurisdiction, "extended": r.extended,
            "exportReleased": _time(r, "export_released_at"),
            "timeline": [{"at": t.at.ToJsonString(), "status": pb.RequestStatus.Name(t.status)
                          .removeprefix("REQUEST_STATUS_"), "note": t.note} for t in r.timeline],
            "processors": [{"name": t.processor, "state": pb.TaskState.Name(t.task_state).removeprefix("TASK_STATE_"),
                            "attempts": t.attempts, "reason": t.reason}
                           for t in r.tasks],
            "deletionCertificate": json.loads(r.deletion_certificate) if r.deletion_certificate else None}
