"""`consentry portal staff add`: an operator makes a console account; the password is read from a file
(never an argument), the second factor's URI is printed once, and a mistake is one clear line.
`staff disable` and `staff enable`: the account signs in no more, then again."""

import json

import pyotp

from tests.consent.builders import CONTROLLER
from tests.portal.fixtures import BACKEND
from tests.portal.staff import Account, Staff
from tests.cli.in_process import consentry, endpoints
from tests.support import unique

pytestmark = BACKEND


async def test_an_operator_adds_a_dpo_who_then_signs_in(portal_app, dev_ca, tmp_path, capsys):
    run_dir = str(endpoints(tmp_path, dev_ca, "portal", portal_app.port))
    (tmp_path / "password").write_text("a long enough pass phrase\n")
    name = unique("mei").lower()
    add = ["portal", "staff", "add", "--name", name, "--role", "dpo", "--run-dir", run_dir,
           "--password-file", str(tmp_path / "password")]

    unnamed = await consentry(*add)
    refused = capsys.readouterr()
    added = await consentry(*add, "--controller", CONTROLLER, "--json")
    printed = json.loads(capsys.readouterr().out)
    again = await consentry(*add, "--controller", CONTROLLER)
    taken = capsys.readouterr()
    staff = Staff(f"http://127.0.0.1:{portal_app.http_port}")
    try:
        signed_in = await staff.sign_in(Account(name, "a long enough pass phrase", printed["totp_uri"]))
    finally:
        await staff.close()

    assert unnamed == 1 and refused.out == "" and len(refused.err.splitlines()) == 1
    assert refused.err.startswith("consentry: INVALID_ARGUMENT") and "controller_id" in refused.err
    assert added == 0 and (printed["name"], printed["role"], printed["controller_id"]) == (name, "dpo", CONTROLLER)
    assert pyotp.parse_uri(printed["totp_uri"]).name == name
    assert again == 1 and taken.err.startswith("consentry: ALREADY_EXISTS STAFF_ACCOUNT_EXISTS")
    assert signed_in.status_code == 303


async def test_an_operator_disables_an_account_and_enables_it_again(portal_app, dev_ca, tmp_path, capsys):
    run_dir = str(endpoints(tmp_path, dev_ca, "portal", portal_app.port))
    (tmp_path / "password").write_text("a long enough pass phrase\n")
    name = unique("lin").lower()
    assert await consentry("portal", "staff", "add", "--name", name, "--role", "dpo", "--controller", CONTROLLER,
                           "--run-dir", run_dir, "--password-file", str(tmp_path / "password"), "--json") == 0
    account = Account(name, "a long enough pass phrase", json.loads(capsys.readouterr().out)["totp_uri"])
    staff = Staff(f"http://127.0.0.1:{portal_app.http_port}")
    try:
        await staff.signed_in(account)
        disabled = await consentry("portal", "staff", "disable", name, "--run-dir", run_dir)
        said_disabled = capsys.readouterr().out
        signed_out = await staff.get("/console/requests")
        refused = await staff.sign_in(account, code=account.code(steps_ahead=1))
        enabled = await consentry("portal", "staff", "enable", name, "--run-dir", run_dir, "--json")
        said_enabled = json.loads(capsys.readouterr().out)
        back = await staff.sign_in(account, code=account.code(steps_ahead=1))
        unknown = await consentry("portal", "staff", "disable", unique("nobody"), "--run-dir", run_dir)
        not_found = capsys.readouterr()
    finally:
        await staff.close()

    assert disabled == 0 and said_disabled == f"{name} is disabled: it signs in no more; 1 session(s) ended\n"
    assert (signed_out.status_code, signed_out.headers["location"]) == (303, "/console/sign-in")
    assert refused.status_code == 401
    assert enabled == 0 and said_enabled == {"name": name, "enabled_now": True}
    assert back.status_code == 303
    assert unknown == 1 and not_found.out == "" and not_found.err.startswith("consentry: NOT_FOUND STAFF_ACCOUNT_NOT_FOUND")
