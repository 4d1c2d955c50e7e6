"""Opaque page tokens, bound to the query they continue: the position of the last row, signed with
HMAC-SHA256 over the query and the position. A token made by hand, altered, or handed to another
query is refused (ValueError), so a token can never reach rows its query would not. The key lives in
the service's database, made once, so every replica reads every replica's tokens."""

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import TypeVar

import asyncpg

from services.common.service_secrets import shared_secret
from services.common.validation import FieldViolation, InvalidArgument

T = TypeVar("T")

_MAC = 16  # bytes of the HMAC kept: forging one is 2**128 guesses


class PageTokens:
    def __init__(self, key: bytes) -> None:
        self._key = key

    @classmethod
    async def of(cls, pool: asyncpg.Pool) -> "PageTokens":
        """With the service's key (table service_secrets), made by the first replica that asks."""
        return cls(await shared_secret(pool, "page-tokens"))

    def _mac(self, query: bytes, position: bytes) -> bytes:
        return hmac.new(self._key, len(query).to_bytes(4, "big") + query + position, hashlib.sha256).digest()[:_MAC]

    def issue(self, query: bytes, position: list) -> str:
        body = json.dumps(position, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(self._mac(query, body) + body).decode()

    def read(self, token: str, query: bytes) -> list:
        """The position a token of this query carries; ValueError for anything else."""
        try:
            raw = base64.urlsafe_b64decode(token.encode("ascii"))
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raise ValueError("not a page token") from None
        mac, body = raw[:_MAC], raw[_MAC:]
        if not hmac.compare_digest(mac, self._mac(query, body)):
            raise ValueError("not a page token of this query")
        position = json.loads(body)
        if not isinstance(position, list):
            raise ValueError("not a page token")
        return position

    def continued(self, token: str, query: bytes, position: Callable[[list], T]) -> T:
        """Where a page token of this query goes on, as `position` reads it; any other token is the
        caller's error, named as such (INVALID_ARGUMENT on page_token)."""
        try:
            return position(self.read(token, query))
        except (ValueError, TypeError, IndexError):
            raise InvalidArgument([FieldViolation("page_token", "page_token.valid",
                                                  "not a token from an earlier page of this query")]) from None
