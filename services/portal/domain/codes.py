"""Signing in by a one-time code, sent to the e-mail address the person's app registered for them.

The portal keeps the address only as a keyed hash (HMAC-SHA256 under a secret of its database, for one
controller): enough to recognise it when the person types it, and no address to read back. A code is six
digits, kept as a hash salted by its challenge (the secret the page holds), valid for ten minutes and for
five wrong tries, then locked. At most three codes in ten minutes and ten in a day are mailed to one
address, whatever became of them, so guesses stay bounded (fifty a day) and so does the mail.

Whether an address is registered is never told: an unknown address gets a challenge too (no mail goes
out), and its page, its answers to wrong codes and its lock are the same."""

import hashlib
import hmac
import secrets
from datetime import timedelta

from email_validator import EmailNotValidError, validate_email

from services.portal.domain import errors

CODE_MINUTES = 10
CODE_LIFETIME = timedelta(minutes=CODE_MINUTES)
MOST_ATTEMPTS = 5
MOST_CODES_AT_ONCE = 3  # issued within one code's lifetime
MOST_CODES_A_DAY = 10
CODES_COUNTED = timedelta(days=1)  # how long a code's row stays after its expiry: the daily count needs it
MAX_ADDRESS = 254  # RFC 5321's limit on a path


def normalized_address(text: str) -> str:
    """The address as the portal compares it: checked for syntax only (nothing is looked up), in lower
    case (the providers people use ignore case); AddressNotValid otherwise."""
    text = text.strip()
    if not text or len(text) > MAX_ADDRESS:
        raise errors.AddressNotValid()
    try:
        return validate_email(text, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        raise errors.AddressNotValid() from None


def address_hash(key: bytes, controller_id: str, address: str) -> str:
    return hmac.new(key, f"{controller_id}\0{address}".encode(), hashlib.sha256).hexdigest()


def new_code() -> str:
    return f"{secrets.randbelow(10 ** 6):06d}"


def code_hash(challenge: str, code: str) -> str:
    return hashlib.sha256(f"{challenge}:{code}".encode()).hexdigest()

