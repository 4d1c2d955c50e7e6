"""`python -m examples.face_gate serve | enrol | show`: the reference face system.

`serve` registers the gate with the dsr service as a processor, enrols the demo subjects whose
consent allows it, and handles data-subject tasks until SIGTERM. The other commands act once."""

import argparse
import asyncio
import json
import os
import signal
from pathlib import Path

from consentry.dsr.v1 import dsr_pb2, dsr_pb2_grpc
from consentry_client import ConsentGate, ConsentRefused, SubjectErased, TemplateCipher, connect, kafka_options
from examples.face_gate.gate import FaceGate, FaceGateProcessor
from examples.face_gate.settings import FaceGateSettings
from examples.face_gate.store import FaceStore


def _channel(s: FaceGateSettings, address: str):
    return connect(address, ca=s.tls_ca, cert=s.tls_cert, key=s.tls_key)


async def _gate(s: FaceGateSettings) -> FaceGate:
    store = await FaceStore.open(s.database_url)
    return FaceGate(store, ConsentGate(_channel(s, s.consent_address)), TemplateCipher(_channel(s, s.keyvault_address)))


async def serve(s: FaceGateSettings) -> None:
    gate = await _gate(s)
    dsr = _channel(s, s.dsr_address)
    await dsr_pb2_grpc.DsrServiceStub(dsr).RegisterProcessor(dsr_pb2.RegisterProcessorRequest(
        name=s.name, purpose_ids=s.purposes,
        capabilities=[dsr_pb2.CAPABILITY_ACCESS, dsr_pb2.CAPABILITY_DELETE, dsr_pb2.CAPABILITY_CORRECT]))
    for subject in s.demo_subjects:
        try:
            await gate.enrol(subject, s.purposes[0], os.urandom(512), display_name=subject)
        except (ConsentRefused, SubjectErased) as refused:
            print(f"{subject} not enrolled: {refused}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    kafka = kafka_options(s.kafka_bootstrap_servers, ca=s.kafka_tls_ca or s.tls_ca, cert=s.tls_cert, key=s.tls_key)
    processor = FaceGateProcessor(s.name, kafka, dsr, gate.store, enable_idempotence=s.kafka_idempotent_producer,
                                  settled_check_s=s.journal_check_s)
    async with processor:
        # "started" only once the consumer group has assigned the task partitions: a task sent
        # earlier is not lost (it waits in the topic), but the gate is not yet working on it.
        joined, stopping = asyncio.ensure_future(processor.ready.wait()), asyncio.ensure_future(stop.wait())
        failed = asyncio.ensure_future(processor.failed.wait())
        done, _ = await asyncio.wait([joined, stopping, failed], return_when=asyncio.FIRST_COMPLETED)
        if joined in done:
            print(f"face gate started: {await gate.store.count()} template(s) enrolled, taking tasks", flush=True)
            done, _ = await asyncio.wait([stopping, failed], return_when=asyncio.FIRST_COMPLETED)
        for waiting in (joined, stopping, failed):
            waiting.cancel()
    await gate.store.close()
    await dsr.close()
    if failed in done:
        raise SystemExit("the processor stopped on an error; exiting so that the gate is restarted")


async def once(s: FaceGateSettings, args: argparse.Namespace) -> int:
    gate = await _gate(s)
    try:
        if args.command == "enrol":
            await gate.enrol(args.subject, args.purpose or s.purposes[0], os.urandom(512), args.subject)
            print(json.dumps({"enrolled": args.subject}))
        else:
            print(json.dumps(await gate.store.record_of(args.subject), indent=2))
    except (ConsentRefused, SubjectErased) as refused:
        print(f"refused: {refused}")
        return 1
    finally:
        await gate.store.close()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.face_gate")
    parser.add_argument("--env-file", type=Path, default=None,
                        help="FACE_GATE_* settings from a file of NAME='value' lines (`make dev` writes one);"
                             " the environment still wins")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve")
    for name in ("enrol", "show"):
        p = commands.add_parser(name)
        p.add_argument("--subject", required=True)
        if name == "enrol":
            p.add_argument("--purpose", default="")
    args = parser.parse_args()
    if args.env_file is not None and not args.env_file.is_file():
        parser.error(f"--env-file {args.env_file}: no such file")
    settings = FaceGateSettings(_env_file=args.env_file)
    if args.command == "serve":
        asyncio.run(serve(settings))
        return 0
    return asyncio.run(once(settings, args))


if __name__ == "__main__":
    raise SystemExit(main())
