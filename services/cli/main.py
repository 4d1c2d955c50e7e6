"""The `consentry` command."""

import argparse
import asyncio
import inspect
from pathlib import Path

from services.cli import audit_commands, consent_commands, dsr_commands, keyvault_commands
from services.cli.client import DEFAULT_RUN_DIR


def _dev_up(args: argparse.Namespace) -> int:
    from services.cli.dev import up
    up(args.run_dir, ready_file=args.ready_file)
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="consentry", description="Consent and data-subject rights for face data")
    commands = root.add_subparsers(dest="command", required=True)
    dev = commands.add_parser("dev", help="run the platform locally on embedded components")
    dev_actions = dev.add_subparsers(dest="action", required=True)
    dev_up = dev_actions.add_parser("up", help="start everything in the foreground; Ctrl-C stops it")
    dev_up.add_argument("--run-dir", type=Path, default=DEFAULT_RUN_DIR)
    dev_up.add_argument("--ready-file", type=Path, help="written once everything is up")
    dev_up.set_defaults(run=_dev_up)
    consent_commands.add_parser(commands)
    keyvault_commands.add_parser(commands)
    audit_commands.add_parser(commands)
    dsr_commands.add_parser(commands)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    result = args.run(args)
    return asyncio.run(result) if inspect.iscoroutine(result) else result


def run() -> None:
    raise SystemExit(main())


if __name__ == "__main__":
    run()
