"""`consentry portal staff add`: an operator makes a console account; the password is read from a file
(never an argument), the second factor's URI is printed once, and a mistake is one clear line."""

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
