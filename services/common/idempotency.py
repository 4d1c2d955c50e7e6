"""Idempotent mutations: the first response to (client, method, key) is stored in the same
transaction as the change, and a retry gets it back instead of changing anything again."""

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import asyncpg

T = TypeVar("T")


class IdempotencyKeyReused(Exception):
    """The key was already used for a different request."""


@dataclass(frozen=True)
class IdempotencyScope:
    client_id: str
    method: str
    key: str


def fingerprint(request_bytes: bytes) -> bytes:
    return hashlib.sha256(request_bytes).digest()


async def run_once(
    conn: asyncpg.Connection,
    scope: IdempotencyScope,
    request_hash: bytes,
    work: Callable[[], Awaitable[T]],
    encode: Callable[[T], bytes],
    decode: Callable[[bytes], T],
    *,
    answer: T | None = None,
) -> T:
    """Must be called inside a transaction on `conn`; `work` must use the same transaction.

    `answer`: the response when it is known before the work (an id chosen up front); it is stored
    with the claim, which saves the update after the work."""
    key = (scope.client_id, scope.method, scope.key)
    # A concurrent request with the same key blocks here until the first commits (then conflicts and
    # reads its answer) or rolls back (then this one claims the key).
    claimed = await conn.fetchval(
        "INSERT INTO idempotency (client_id, method, idem_key, request_hash, response) VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT DO NOTHING RETURNING true", *key, request_hash, None if answer is None else encode(answer))
    if not claimed:
        prior = await _first_answer(conn, scope, request_hash)
        assert prior is not None  # the conflicting row committed, with its answer
        return decode(prior)
    result = await work()
    if answer is None:
        await conn.execute(
            "UPDATE idempotency SET response = $4 WHERE client_id = $1 AND method = $2 AND idem_key = $3",
            *key, encode(result))
    return result


async def remembered(
    pool: asyncpg.Pool,
    scope: IdempotencyScope,
    request_hash: bytes,
    work: Callable[[], Awaitable[T]],
    encode: Callable[[T], bytes],
    decode: Callable[[bytes], T],
) -> T:
    """For work that spans several transactions and outside calls (a key rotation, a shred). The key
    is bound to this request before the work starts, so it never answers another request; a retry
    after success returns the stored answer. A retry while the first attempt still runs (or after it
    died) runs the work again, so the work itself must tolerate being repeated."""
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO idempotency (client_id, method, idem_key, request_hash) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT DO NOTHING", scope.client_id, scope.method, scope.key, request_hash)
        claim = await conn.fetchrow(
            "SELECT request_hash, response FROM idempotency WHERE client_id = $1 AND method = $2 AND idem_key = $3",
            scope.client_id, scope.method, scope.key)
    if bytes(claim["request_hash"]) != request_hash:
        raise IdempotencyKeyReused(f"idempotency_key '{scope.key}' was already used for a different request")
    if claim["response"] is not None:
        return decode(bytes(claim["response"]))
    result = await work()
    await pool.execute(
        "UPDATE idempotency SET response = $4 WHERE client_id = $1 AND method = $2 AND idem_key = $3"
        " AND response IS NULL", scope.client_id, scope.method, scope.key, encode(result))
    return result


async def _first_answer(db: asyncpg.Connection | asyncpg.Pool, scope: IdempotencyScope,
                        request_hash: bytes) -> bytes | None:
    """The stored answer for this key, if any; the key may not be reused for another request."""
    prior = await db.fetchrow(
        "SELECT request_hash, response FROM idempotency WHERE client_id = $1 AND method = $2 AND idem_key = $3"
        " AND response IS NOT NULL", scope.client_id, scope.method, scope.key)
    if prior is None:
        return None
    if bytes(prior["request_hash"]) != request_hash:
        raise IdempotencyKeyReused(f"idempotency_key '{scope.key}' was already used for a different request")
    return bytes(prior["response"])
