"""`consentry keyvault ...`: try the keyvault service of a running dev stack from a terminal."""

import argparse
import base64
import json
import uuid
from pathlib import Path

from consentry.keyvault.v1 import keyvault_admin_pb2, keyvault_admin_pb2_grpc, keyvault_pb2_grpc
from consentry.keyvault.v1 import keyvault_pb2 as pb
from services.cli.client import DEFAULT_RUN_DIR, channel, load_endpoints


def add_parser(commands: argparse._SubParsersAction) -> None:
    keyvault = commands.add_parser("keyvault", help="call the keyvault service of the dev stack")
    actions = keyvault.add_subparsers(dest="action", required=True)
    for name, client in (("datakey", "demo-gate"), ("status", "demo-gate"), ("shred", "admin"), ("verify", "dpo")):
        p = actions.add_parser(name)
        p.add_argument("--subject", required=True)
        # The same person at two controllers is two subjects: an operator (admin, dpo) must say which;
        # a controller's client (demo-gate) may leave it out for its own.
        p.add_argument("--controller", default="", help="controller the subject is a subject of"
                       " (required for an operator's client; a controller's client defaults to its own)")
        if name == "datakey":
            p.add_argument("--purpose", required=True)
        if name == "verify":  # the certificate names the subject by a tag only keyvault can compute
            p.add_argument("--certificate", type=Path, required=True, help="JSON file as `shred` prints it")
        p.add_argument("--client", default=client, help="client certificate to call with")
        p.add_argument("--run-dir", type=Path, default=DEFAULT_RUN_DIR, help="run directory of `consentry dev up`")
        p.set_defaults(run=run)


async def run(args: argparse.Namespace) -> int:
    async with channel(load_endpoints(args.run_dir), "keyvault", args.client) as ch:
        if args.action == "shred":  # an operator's action, on the admin service
            answer = await _shred(keyvault_admin_pb2_grpc.KeyVaultAdminServiceStub(ch), args.subject, args.controller)
        else:
            answer = await _call(keyvault_pb2_grpc.KeyVaultServiceStub(ch), args)
        print(json.dumps(answer, indent=2))
    return 0


async def _call(stub: keyvault_pb2_grpc.KeyVaultServiceStub, args: argparse.Namespace) -> dict:
    if args.action == "datakey":
        issued = await stub.GenerateDataKey(pb.GenerateDataKeyRequest(subject_id=args.subject, purpose_id=args.purpose,
                                                                      controller_id=args.controller))
        # The plaintext key stays with the caller; show only that there is one.
        return {"plaintext_key_bytes": len(issued.plaintext_key), "wrapped_key": issued.wrapped_key.hex()}
    if args.action == "status":
        status = await stub.GetKeyStatus(pb.GetKeyStatusRequest(subject_id=args.subject, controller_id=args.controller))
        return {"subject_id": status.subject_id, "state": pb.KeyState.Name(status.state), "backend": status.backend}
    printed = json.loads(args.certificate.read_text())  # verify
    certificate = pb.DeletionCertificate(certificate_json=base64.b64decode(printed["certificate_json"]),
                                         signature=bytes.fromhex(printed["signature"]), key_id=printed["key_id"])
    checked = await stub.VerifyCertificate(pb.VerifyCertificateRequest(subject_id=args.subject, certificate=certificate,
                                                                       controller_id=args.controller))
    return {"signature_valid": checked.signature_valid, "names_subject": checked.names_subject}


async def _shred(stub: keyvault_admin_pb2_grpc.KeyVaultAdminServiceStub, subject_id: str, controller_id: str) -> dict:
    shredded = await stub.ShredSubjectKey(keyvault_admin_pb2.ShredSubjectKeyRequest(
        subject_id=subject_id, controller_id=controller_id, request_id=f"cli-{uuid.uuid4().hex[:8]}", reason="erasure from the command line",
        idempotency_key=str(uuid.uuid4())))
    # The signed bytes as well: the signature covers exactly them, not a re-serialisation.
    return {"certificate": json.loads(shredded.certificate.certificate_json),
            "certificate_json": base64.b64encode(shredded.certificate.certificate_json).decode(),
            "signature": shredded.certificate.signature.hex(), "key_id": shredded.certificate.key_id}
