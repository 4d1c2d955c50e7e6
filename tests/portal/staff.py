"""The console's staff in tests: accounts made as an operator makes them (PortalAdminService), and a
staff member's browser as far as HTTP goes, signing in with the password and the code of the moment."""

import time

import pyotp

from consentry.portal.v1 import portal_admin_pb2 as admin_pb
from tests.portal.visitor import Visitor, hidden_fields
from tests.support import unique

ROLES = {"dpo": admin_pb.STAFF_ROLE_DPO, "operator": admin_pb.STAFF_ROLE_OPERATOR,
         "auditor": admin_pb.STAFF_ROLE_AUDITOR}


class Account:
    def __init__(self, name: str, password: str, totp_uri: str) -> None:
        self.name, self.password, self.totp = name, password, pyotp.parse_uri(totp_uri)

    def code(self, steps_ahead: int = 0) -> str:
        """The code of the moment, or of a later time step (one ahead is still taken, and is later than
        the one just used: a second sign-in within 30 s)."""
        return self.totp.at(time.time() + steps_ahead * self.totp.interval)


async def staff_account(portal_admin, role: str, controller: str = "", oidc_subject: str = "") -> Account:
    """`oidc_subject`: the account is bound to that subject at the identity provider."""
    name, password = unique(role).lower(), unique("pass-phrase")
    answer = await portal_admin.CreateStaffAccount(admin_pb.CreateStaffAccountRequest(
        name=name, role=ROLES[role], controller_id=controller, password=password, oidc_subject=oidc_subject))
    return Account(name, password, answer.totp_uri)


class Staff(Visitor):
    async def sign_in(self, account: Account, password: str | None = None, code: str | None = None):
        """The answer to the sign-in form (a redirect to the queue when it worked)."""
        form = hidden_fields((await self.get("/console/sign-in")).text)
        return await self.post("/console/sign-in", {
            **form, "name": account.name, "password": account.password if password is None else password,
            "code": account.code() if code is None else code})

    async def signed_in(self, account: Account) -> "Staff":
        answer = await self.sign_in(account)
        assert (answer.status_code, answer.headers.get("location")) == (303, "/console/requests"), answer.text[:500]
        return self

    async def form(self, page: str) -> dict[str, str]:
        """The hidden fields (CSRF token, form key) of a page's forms."""
        return hidden_fields((await self.get(page)).text)
