"""`consentry portal link`: a sign-in link to the portal for a person, as a face system's backend asks
for one (PortalService.CreateSignInLink), to open in a browser. `consentry portal contact`: the e-mail
address a person signs in with by code (PortalService.RegisterContact). `consentry portal staff add`:
an account of the console, /console/ (PortalAdminService.CreateStaffAccount); `staff disable` and
`staff enable`: it signs in no more (its sessions end), or again (Disable/EnableStaffAccount)."""

import argparse
import getpass
import sys
from pathlib import Path

from consentry.portal.v1 import portal_admin_pb2 as admin_pb
from consentry.portal.v1 import portal_admin_pb2_grpc
from consentry.portal.v1 import portal_pb2 as pb
from consentry.portal.v1 import portal_pb2_grpc
from services.cli.client import DEFAULT_RUN_DIR, CliError, channel, load_endpoints
from services.cli.output import add_json_flag, show


def add_parser(commands: argparse._SubParsersAction) -> None:
    portal = commands.add_parser("portal", help="the people's portal of the dev stack")
    actions = portal.add_subparsers(dest="action", required=True)
    link = actions.add_parser("link", help="a single-use sign-in link for a person, valid for 5 minutes")
    link.add_argument("--subject", required=True)
    link.add_argument("--jurisdiction", default="CN", help="where the person is: CN, EU, US-IL, ...")
    link.add_argument("--language", default="", choices=["", "zh-CN", "en"],
                      help="the portal's first language (default: the browser's)")
    link.add_argument("--controller", default="", help="the person's controller (required for an operator's"
                      " client; a controller's client, such as demo-gate, defaults to its own)")
    link.add_argument("--ward", action="append", default=[], type=_ward, metavar="SUBJECT:VERIFICATION:LABEL",
                      help="a minor in the person's care, whose consents they manage as guardian (repeatable)")
    link.add_argument("--client", default="demo-gate", help="client certificate to call with")
    link.add_argument("--run-dir", type=Path, default=DEFAULT_RUN_DIR, help="run directory of `consentry dev up`")
    add_json_flag(link)
    link.set_defaults(run=run)

    contact = actions.add_parser("contact", help="the e-mail address a person may sign in with by one-time code")
    contact.add_argument("--subject", required=True)
    contact.add_argument("--email", required=True, help="the address; \"\" forgets the person's")
    contact.add_argument("--jurisdiction", default="CN", help="where the person is: CN, EU, US-IL, ...")
    contact.add_argument("--controller", default="", help="as for `portal link`")
    contact.add_argument("--client", default="demo-gate", help="client certificate to call with")
    contact.add_argument("--run-dir", type=Path, default=DEFAULT_RUN_DIR, help="run directory of `consentry dev up`")
    add_json_flag(contact)
    contact.set_defaults(run=register)

    staff = actions.add_parser("staff", help="the console's accounts (DPOs, operators, auditors)")
    staff_actions = staff.add_subparsers(dest="staff_action", required=True)
    add = staff_actions.add_parser("add", help="an account; prints its second factor for an authenticator app, once")
    add.add_argument("--name", required=True, help="the account's name: a-z, 0-9, '.', '_', '-'")
    add.add_argument("--role", required=True, choices=list(ROLES), help="dpo: one controller's; operator: the"
                     " platform's; auditor: reads only (one controller's, or the platform's without --controller)")
    add.add_argument("--controller", default="", help="the controller a DPO (or an auditor) works in")
    add.add_argument("--password-file", type=Path, help="a file holding the password (12 to 256 characters,"
                     " first line); without it the password is asked for on the terminal")
    add.add_argument("--oidc-subject", default="", help="where staff sign in at the organisation's identity"
                     " provider: the person's subject there (the ID token's sub); then no password is needed")
    add.add_argument("--client", default="admin", help="client certificate to call with (an operator's)")
    add.add_argument("--run-dir", type=Path, default=DEFAULT_RUN_DIR, help="run directory of `consentry dev up`")
    add_json_flag(add)
    add.set_defaults(run=add_staff)
    for action, summary, run_it in (
            ("disable", "an account signs in no more, and its sessions end now (it stays, as the audit log names it)",
             disable_staff),
            ("enable", "a disabled or locked-out account may sign in again", enable_staff)):
        command = staff_actions.add_parser(action, help=summary)
        command.add_argument("name", help="the account's name")
        command.add_argument("--client", default="admin", help="client certificate to call with (an operator's)")
        command.add_argument("--run-dir", type=Path, default=DEFAULT_RUN_DIR,
                             help="run directory of `consentry dev up`")
        add_json_flag(command)
        command.set_defaults(run=run_it)


ROLES = {"dpo": admin_pb.STAFF_ROLE_DPO, "operator": admin_pb.STAFF_ROLE_OPERATOR,
         "auditor": admin_pb.STAFF_ROLE_AUDITOR}


def _ward(text: str) -> pb.Ward:
    subject_id, _, rest = text.partition(":")
    verification_ref, _, label = rest.partition(":")
    if not (subject_id and verification_ref and label):
        raise argparse.ArgumentTypeError("give the ward as SUBJECT:VERIFICATION:LABEL, e.g. kid-7:household-register-3:Lily")
    return pb.Ward(subject_id=subject_id, verification_ref=verification_ref, label=label)


async def run(args: argparse.Namespace) -> int:
    async with channel(load_endpoints(args.run_dir), "portal", args.client) as ch:
        answer = await portal_pb2_grpc.PortalServiceStub(ch).CreateSignInLink(pb.CreateSignInLinkRequest(
            subject_id=args.subject, jurisdiction=args.jurisdiction, language=args.language,
            controller_id=args.controller, wards=args.ward), timeout=10)
    until = answer.expires_at.ToJsonString()
    if args.json:
        show({"url": answer.url, "expires_at": until}, True)
    else:  # the link alone on its line, to open or copy
        print(f"{answer.url}\n(single use; valid until {until})")
    return 0


async def register(args: argparse.Namespace) -> int:
    async with channel(load_endpoints(args.run_dir), "portal", args.client) as ch:
        await portal_pb2_grpc.PortalServiceStub(ch).RegisterContact(pb.RegisterContactRequest(
            subject_id=args.subject, jurisdiction=args.jurisdiction, email=args.email,
            controller_id=args.controller), timeout=10)
    if args.json:
        show({"subject_id": args.subject, "email": args.email}, True)
    else:
        print(f"{args.subject} signs in by code sent to {args.email}" if args.email
              else f"{args.subject} has no address now")
    return 0


def _password(args: argparse.Namespace) -> str:
    if args.oidc_subject and not args.password_file:
        return ""  # the account signs in at the identity provider only
    if args.password_file:
        lines = args.password_file.read_text().splitlines()
        return lines[0] if lines else ""
    if not sys.stdin.isatty():
        raise CliError("give the password with --password-file (no terminal to ask it on)")
    first, again = getpass.getpass("password: "), getpass.getpass("again: ")
    if first != again:
        raise CliError("the two passwords differ; nothing was created")
    return first


async def add_staff(args: argparse.Namespace) -> int:
    password = _password(args)
    async with channel(load_endpoints(args.run_dir), "portal", args.client) as ch:
        answer = await portal_admin_pb2_grpc.PortalAdminServiceStub(ch).CreateStaffAccount(
            admin_pb.CreateStaffAccountRequest(name=args.name, role=ROLES[args.role], controller_id=args.controller,
                                               password=password, oidc_subject=args.oidc_subject), timeout=10)
    if args.json:
        show({"name": args.name, "role": args.role, "controller_id": args.controller, "totp_uri": answer.totp_uri},
             True)
    else:
        print(f"{args.name} ({args.role}{', ' + args.controller if args.controller else ''}) may sign in at /console/"
              f" with the password and a code from an authenticator app set up with (shown only now):\n"
              f"{answer.totp_uri}")
    return 0


async def disable_staff(args: argparse.Namespace) -> int:
    async with channel(load_endpoints(args.run_dir), "portal", args.client) as ch:
        answer = await portal_admin_pb2_grpc.PortalAdminServiceStub(ch).DisableStaffAccount(
            admin_pb.DisableStaffAccountRequest(name=args.name), timeout=10)
    if args.json:
        show({"name": args.name, "disabled_now": answer.disabled_now, "sessions_ended": answer.sessions_ended}, True)
    elif answer.disabled_now:
        print(f"{args.name} is disabled: it signs in no more; {answer.sessions_ended} session(s) ended")
    else:
        print(f"{args.name} was disabled already; nothing changed")
    return 0


async def enable_staff(args: argparse.Namespace) -> int:
    async with channel(load_endpoints(args.run_dir), "portal", args.client) as ch:
        answer = await portal_admin_pb2_grpc.PortalAdminServiceStub(ch).EnableStaffAccount(
            admin_pb.EnableStaffAccountRequest(name=args.name), timeout=10)
    if args.json:
        show({"name": args.name, "enabled_now": answer.enabled_now}, True)
    elif answer.enabled_now:
        print(f"{args.name} may sign in again")
    else:
        print(f"{args.name} was neither disabled nor locked; nothing changed")
    return 0
