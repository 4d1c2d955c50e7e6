"""A failed login is neither mistaken for the call's own refusal nor a storm of logins: a renewal
that fails keeps the token still valid, attempts are spaced, and without a valid token the call is
refused as Vault unavailable (never as "no KEK" or "unusable key", which would change what a shred
or an offboarding records)."""

import hvac
import pytest

from services.audit.domain.errors import SignerUnavailable
from services.audit.store.checkpoint_signer import VaultCheckpointSigner
from services.common.vault_auth import LOGIN_RETRY_S, VaultLoginFailed, VaultSession
from services.keyvault.domain.errors import VaultUnavailable
from services.keyvault.store.vault import TransitKek

LEASE_S = 100.0


class Logins:
    """OpenBao's answers to a session's logins, on a clock the test moves."""

    def __init__(self) -> None:
        self.now, self.attempts, self.refusing = 0.0, 0, False

    def __call__(self, _client) -> dict:
        self.attempts += 1
        if self.refusing:
            raise hvac.exceptions.Forbidden("permission denied")
        return {"auth": {"client_token": f"token-{self.attempts}", "lease_duration": LEASE_S}}

    def session(self) -> VaultSession:
        return VaultSession("https://127.0.0.1:1", login=self, clock=lambda: self.now)


def test_a_failed_renewal_keeps_the_valid_token_and_spaces_its_attempts():
    logins = Logins()
    session = logins.session()
    first = session.token()
    logins.now, logins.refusing = LEASE_S * 0.6, True  # past half the lease: renewal is due
    kept = session.token()
    soon = session.token()  # within the retry delay: no new attempt
    attempts = logins.attempts
    logins.now += LOGIN_RETRY_S[0]
    logins.refusing = False
    renewed = session.token()

    assert first == kept == soon == "token-1" and attempts == 2
    assert renewed == "token-3"


def test_without_a_valid_token_a_refused_login_is_its_own_error():
    logins = Logins()
    session = logins.session()
    session.token()
    logins.now, logins.refusing = LEASE_S + 1, True  # the token expired and the login is refused
    with pytest.raises(VaultLoginFailed, match="Forbidden"):
        session.token()
    with pytest.raises(VaultLoginFailed):  # the next attempt is not due yet: no login, still no token
        session.token()

    assert logins.attempts == 2


async def test_a_refused_login_is_vault_unavailable_to_keyvault_and_the_signer():
    logins = Logins()
    logins.refusing = True
    # A controller's KEK maps Vault's 403 on a call to "not provisioned": a 403 on the login must not.
    kek = TransitKek(logins.session(), "consentry-kek-acme", forbidden=lambda: AssertionError("not the login's"))
    with pytest.raises(VaultUnavailable, match="login failed"):
        await kek.unwrap("vault:v1:AAAA")
    with pytest.raises(SignerUnavailable, match="login failed"):
        await VaultCheckpointSigner(logins.session(), "checkpoints").sign(b"note")
