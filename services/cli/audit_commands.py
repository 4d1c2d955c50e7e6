"""`consentry audit ...`: verify an export offline, and ask the audit service of a dev stack for
checkpoints, exports, a full verification and the completeness report."""

import argparse
import json
from pathlib import Path

from consentry.audit.v1 import audit_pb2 as pb
from consentry.audit.v1 import audit_pb2_grpc
from consentry_client.audit_verify import verify_export
from services.audit.domain.checkpoint import Checkpoint
from services.audit.domain.export_format import checkpoint_line
from services.cli.client import DEFAULT_RUN_DIR, channel, load_endpoints
from services.cli.output import add_json_flag, progress_bar, show


def add_parser(commands: argparse._SubParsersAction) -> None:
    audit = commands.add_parser("audit", help="verify audit exports; query the audit log of the dev stack")
    actions = audit.add_subparsers(dest="action", required=True)
    verify = actions.add_parser("verify", help="verify an export offline, with nothing but the public key")
    verify.add_argument("file", type=Path, help="the JSON Lines file from `consentry audit export`")
    verify.add_argument("--public-key", type=Path, required=True, help="PEM of the checkpoint signing key")
    verify.add_argument("--earlier-checkpoint", type=Path,
                        help="a checkpoint kept from before (JSON, as `consentry audit checkpoint` prints it): "
                             "the export must prove the log only grew since")
    verify.add_argument("--controller", help="every entry must be this controller's")
    verify.add_argument("--default-controller",
                        help="the deployment's default controller: entries from before controllers, which name"
                             " none, are its")
    add_json_flag(verify)
    verify.set_defaults(run=run_verify)

    online = {
        "checkpoint": "print the latest signed checkpoint (keep it to check later exports against)",
        "public-key": "print the PEM that verifies checkpoints",
        "export": "write a JSON Lines export with proofs",
        "verify-log": "ask the service to re-verify the whole log",
        "completeness": "per producer: complete up to which sequence",
    }
    for name, text in online.items():
        p = actions.add_parser(name, help=text)
        if name == "export":
            p.add_argument("--subject", default="", help="only this subject's entries (of --controller)")
            p.add_argument("--controller", default="",
                           help="only this controller's entries (a controller's client: its own, by default;"
                                " an operator: every controller's, but it must name one with --subject)")
            p.add_argument("--since-tree-size", type=int, default=0, help="prove consistency from this size")
            p.add_argument("--out", type=Path, required=True)
        p.add_argument("--client", default="dpo", help="client certificate to call with")
        p.add_argument("--run-dir", type=Path, default=DEFAULT_RUN_DIR, help="run directory of `consentry dev up`")
        if name in ("verify-log", "completeness"):  # the others print a document to keep, as it is
            add_json_flag(p)
        p.set_defaults(run=run_online)


def run_verify(args: argparse.Namespace) -> int:
    earlier = json.loads(args.earlier_checkpoint.read_text()) if args.earlier_checkpoint else None
    with progress_bar(f"verifying {args.file.name}") as progress:
        verdict = verify_export(args.file.read_text().splitlines(), args.public_key.read_text(), earlier,
                                controller=args.controller, default_controller=args.default_controller,
                                progress=progress)
    show({"ok": verdict.ok, "treeSize": verdict.tree_size, "entriesVerified": verdict.entries_verified,
          "consistentWithTreeSize": verdict.consistent_with, "problems": verdict.problems}, args.json)
    return 0 if verdict.ok else 1


async def run_online(args: argparse.Namespace) -> int:
    async with channel(load_endpoints(args.run_dir), "audit", args.client) as ch:
        return await _call(audit_pb2_grpc.AuditServiceStub(ch), args)


async def _call(stub: audit_pb2_grpc.AuditServiceStub, args: argparse.Namespace) -> int:
    if args.action == "checkpoint":
        c = (await stub.GetCheckpoint(pb.GetCheckpointRequest())).checkpoint
        print(json.dumps(checkpoint_line(Checkpoint(c.tree_size, c.root_hash, c.issued_at.ToDatetime(), c.note,
                                                    c.signature, c.key_id))))
    elif args.action == "public-key":
        print((await stub.GetPublicKey(pb.GetPublicKeyRequest())).public_key_pem, end="")
    elif args.action == "export":
        request = pb.ExportEventsRequest(filter=pb.EventFilter(subject_id=args.subject, controller_id=args.controller),
                                         since_tree_size=args.since_tree_size)
        with args.out.open("wb") as out:
            async for chunk in stub.ExportEvents(request):
                out.write(chunk.data)
        print(f"written to {args.out}")
    elif args.action == "verify-log":
        verdict = await stub.VerifyLog(pb.VerifyLogRequest())
        show({"ok": verdict.ok, "treeSize": verdict.tree_size, "entriesChecked": verdict.entries_checked,
              "problems": list(verdict.problems)}, args.json)
        return 0 if verdict.ok else 1
    else:
        report = await stub.GetCompleteness(pb.GetCompletenessRequest())
        show([{"producer": p.producer, "completeUpTo": p.complete_up_to, "highestSeen": p.highest_seen,
               "missing": p.missing} for p in report.producers], args.json, "producers")
    return 0
