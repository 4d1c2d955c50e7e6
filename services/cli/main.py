"""The `consentry` command."""

import argparse
import asyncio
import inspect
import os
import sys
from pathlib import Path

import grpc

from consentry_client import error_info
from services.cli import audit_commands, consent_commands, dsr_commands, keyvault_commands, portal_commands
from services.cli.client import DEFAULT_RUN_DIR, CliError


def _dev_up(args: argparse.Namespace) -> int:
    # The one place outside the dev platform that names it: an installation without the `dev` extra
    # has the command, which then says what is missing.
    try:
        from consentry_dev.up import up
    except ModuleNotFoundError as missing:
        raise CliError(f"the dev platform is not installed (no module {missing.name!r}):"
                       " pip install 'consentry[dev]'") from None
    up(args.run_dir, ready_file=args.ready_file)
    return 0


def parser(running: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; `running`: the command about to run, when known (the provision
    commands are then loaded only if it is theirs)."""
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
    portal_commands.add_parser(commands)
    provision = commands.add_parser("provision", help="set up databases, Vault and Kafka for the services, once")
    if running in (None, "provision"):  # its commands read every service's settings: half a second of imports
        from services.cli import provision_commands
        provision_commands.add_actions(provision)
    return root


def main(argv: list[str] | None = None) -> int:
    """Runs one command; any error is one clear line on stderr and a non-zero exit, never a traceback."""
    argv = sys.argv[1:] if argv is None else argv
    args = parser(argv[0] if argv else None).parse_args(argv)
    try:
        result = args.run(args)
        return asyncio.run(result) if inspect.iscoroutine(result) else result
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (`| head`): nothing to say, and nothing more to write
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except grpc.aio.AioRpcError as error:
        reason = error_info(error).reason
        return _failed(f"{error.code().name}{' ' + reason if reason else ''}: {error.details()}")
    except CliError as error:
        return _failed(str(error))
    except OSError as error:
        return _failed(f"{error.filename}: {error.strerror}" if error.filename else str(error))
    except Exception as error:  # noqa: BLE001 - a bug still gets one line, with what it was
        return _failed(f"unexpected {type(error).__name__}: {error}")


def _failed(message: str) -> int:
    print(f"consentry: {message}", file=sys.stderr)
    return 1


def run() -> None:
    raise SystemExit(main())


if __name__ == "__main__":
    run()
