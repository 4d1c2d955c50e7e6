"""`consentry keyvault ...`: try the keyvault service of a running dev stack from a terminal."""

import argparse
import asyncio
import base64
import json
import uuid
from pathlib import Path

import grpc

from consentry.keyvault.v1 import keyvault_admin_pb2, keyvault_admin_pb2_grpc, keyvault_pb2_grpc
from consentry.keyvault.v1 import keyvault_pb2 as pb
from services.cli.client import DEFAULT_RUN_DIR, channel, load_endpoints
from services.cli.output import add_json_flag, progress_bar, show


# What these print is a signed certificate to keep (`verify --certificate` reads it back): JSON always.
CERTIFICATES = ("shred", "offboard")


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
        _client_options(p, client)
    # An operator's actions on a whole controller's keys.
    rotate = actions.add_parser("rotate-kek", help="rotate the KEK of one controller's subject keys")
    rotate.add_argument("--trim", action="store_true", help="then destroy the KEK's older versions")
    offboard = actions.add_parser("offboard", help="destroy every key of a controller's subjects, for good")
    offboard.add_argument("--reason", required=True, help="why, as the certificate will say")
    for p in (rotate, offboard):
        p.add_argument("--controller", required=True, help="the controller whose keys these are")
        _client_options(p, "admin")


def _client_options(p: argparse.ArgumentParser, client: str) -> None:
    p.add_argument("--client", default=client, help="client certificate to call with")
    p.add_argument("--run-dir", type=Path, default=DEFAULT_RUN_DIR, help="run directory of `consentry dev up`")
    add_json_flag(p)
    p.set_defaults(run=run)


async def run(args: argparse.Namespace) -> int:
    async with channel(load_endpoints(args.run_dir), "keyvault", args.client) as ch:
        admin = keyvault_admin_pb2_grpc.KeyVaultAdminServiceStub(ch)  # an operator's actions
        if args.action == "shred":
            answer = await _shred(admin, args.subject, args.controller)
        elif args.action == "rotate-kek":
            rotated = await _rotate(admin, args.controller, args.trim)
            answer = {"kek_version": rotated.kek_version, "keys_rewrapped": rotated.keys_rewrapped,
                      "min_available_version": rotated.min_available_version}
        elif args.action == "offboard":
            offboarded = await admin.OffboardController(keyvault_admin_pb2.OffboardControllerRequest(
                controller_id=args.controller, reason=args.reason, idempotency_key=str(uuid.uuid4())))
            answer = {"subject_keys_destroyed": offboarded.subject_keys_destroyed,
                      **_printed(offboarded.certificate)}
        else:
            answer = await _call(keyvault_pb2_grpc.KeyVaultServiceStub(ch), args)
        show(answer, args.json or args.action in CERTIFICATES)
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


async def _rotate(admin: keyvault_admin_pb2_grpc.KeyVaultAdminServiceStub, controller_id: str, trim: bool
                  ) -> keyvault_admin_pb2.RotateKekResponse:
    """The rotation, with a bar on a terminal: the keys now under a newer version than any before it
    began, out of the live keys it found (keyvault's count, asked while the rotation runs)."""
    async def under_version() -> dict[int, int]:
        status = await admin.GetKekStatus(keyvault_admin_pb2.GetKekStatusRequest(controller_id=controller_id))
        return {v.kek_version: v.live_keys for v in status.versions}
    before = await under_version()
    newest, total = max(before, default=0), sum(before.values())
    rotation = asyncio.ensure_future(admin.RotateKek(keyvault_admin_pb2.RotateKekRequest(
        controller_id=controller_id, trim=trim, idempotency_key=str(uuid.uuid4()))))
    with progress_bar(f"re-wrapping {controller_id}'s keys") as tell:
        while not rotation.done():
            try:
                moved = sum(n for version, n in (await under_version()).items() if version > newest)
            except grpc.aio.AioRpcError:  # no count to show: the rotation goes on, and is awaited
                break
            tell(min(moved, total), total)
            await asyncio.wait([rotation], timeout=0.3)
        return await rotation


async def _shred(stub: keyvault_admin_pb2_grpc.KeyVaultAdminServiceStub, subject_id: str, controller_id: str) -> dict:
    shredded = await stub.ShredSubjectKey(keyvault_admin_pb2.ShredSubjectKeyRequest(
        subject_id=subject_id, controller_id=controller_id, request_id=f"cli-{uuid.uuid4().hex[:8]}", reason="erasure from the command line",
        idempotency_key=str(uuid.uuid4())))
    return _printed(shredded.certificate)


def _printed(certificate: pb.DeletionCertificate) -> dict:
    # The signed bytes as well: the signature covers exactly them, not a re-serialisation.
    return {"certificate": json.loads(certificate.certificate_json),
            "certificate_json": base64.b64encode(certificate.certificate_json).decode(),
            "signature": certificate.signature.hex(), "key_id": certificate.key_id}
