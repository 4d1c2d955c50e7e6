"""`python -m consentry_dev.staff_code NAME`: a demo console account's password and the code its
authenticator app would show now, from the dev stack's console-accounts.json (what a phone does for a
real account)."""

import argparse
import json
from pathlib import Path

import pyotp

from services.cli.client import DEFAULT_RUN_DIR


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m consentry_dev.staff_code")
    parser.add_argument("name", help="demo-dpo, demo-operator or demo-auditor")
    parser.add_argument("--run-dir", type=Path, default=DEFAULT_RUN_DIR)
    args = parser.parse_args()
    accounts = json.loads((args.run_dir / "console-accounts.json").read_text())
    if args.name not in accounts:
        parser.error(f"no demo account {args.name!r}; there are {', '.join(sorted(accounts))}")
    account = accounts[args.name]
    print(f"password: {account['password']}\ncode:     {pyotp.parse_uri(account['totp_uri']).now()}")


if __name__ == "__main__":
    main()
