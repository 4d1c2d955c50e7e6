"""Idempotent mutations: the first response to (client, method, key) is stored in the same
transaction as the change, and a retry gets the stored bytes back instead of changing anything
again. What the bytes are is the caller's choice (an api stores its response as sent), so a retry
is answered with them as they are."""

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import asyncpg

from services.common.db import Statement

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


@dataclass(frozen=True)
class IdempotencyKey:
    """Who asked, under which key, for which request: the key answers only that request's retries."""

    scope: IdempotencyScope
    request_hash: bytes

    @classmethod
    def of(cls, scope: IdempotencyScope, request_bytes: bytes) -> "IdempotencyKey":
        return cls(scope, fingerprint(request_bytes))


@dataclass(frozen=True)
class Idempotent(Generic[T]):
    """A use case's idempotency key and how its first result is stored for the retries."""

    key: IdempotencyKey
    encode: Callable[[T], bytes]


@dataclass(frozen=True)
class Replayed:
    """A retry's answer: the bytes stored with the first result, for the caller to answer with."""

    answer: bytes


def answers_statement(answers: list[tuple[IdempotencyKey, bytes]], first: int = 1) -> Statement:
    """Stores the answers of keys this transaction claimed (see claim)."""
    a, b, c, d = range(first, first + 4)
    return Statement(
        f"UPDATE idempotency i SET response = a.response FROM unnest(${a}::text[], ${b}::text[], ${c}::text[],"
        f" ${d}::bytea[]) AS a(client_id, method, idem_key, response)"
        " WHERE (i.client_id, i.method, i.idem_key) = (a.client_id, a.method, a.idem_key)",
        (*_scopes([key for key, _ in answers]), [answer for _, answer in answers]))


def _scopes(keys: list[IdempotencyKey]) -> tuple[list[str], list[str], list[str]]:
    return [k.scope.client_id for k in keys], [k.scope.method for k in keys], [k.scope.key for k in keys]


async def claim(conn: asyncpg.Connection, key: IdempotencyKey, answer: bytes | None = None) -> Replayed | None:
    """Claims the key for this transaction (must be inside one); the stored answer if an earlier call
    has it. The caller then does the work and stores its answer in the same transaction (answers_statement).

    `answer`: what to store when it is known before the work (an id chosen up front); it is stored
    with the claim, which saves the write after the work."""
    [found] = await claim_each(conn, [key], [answer])
    if isinstance(found, IdempotencyKeyReused):
        raise found
    return found


async def claim_each(conn: asyncpg.Connection, keys: list[IdempotencyKey], answers: list[bytes | None] | None = None
                     ) -> list[Replayed | IdempotencyKeyReused | None]:
    """`claim` for many distinct keys in one statement: for each, None (claimed: do the work), the
    stored answer, or the error of a key used before for another request. Keys are claimed in one
    order, so two transactions claiming some of the same keys wait for each other, never in a circle;
    a concurrent request with one of them blocks here until the first commits (then this one reads
    its answer) or rolls back (then this one claims it). `answers`: what to store with each claim."""
    if len({k.scope for k in keys}) != len(keys):
        raise ValueError("a key claimed twice at once: the second would be taken for the first")
    answers = answers or [None] * len(keys)
    claimed = {_scope_of(r) for r in await conn.fetch(
        "INSERT INTO idempotency (client_id, method, idem_key, request_hash, response)"
        " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::bytea[]) ORDER BY 1, 2, 3"
        " ON CONFLICT DO NOTHING RETURNING client_id, method, idem_key",
        *_scopes(keys), [k.request_hash for k in keys], answers)}
    kept = [k for k in keys if k.scope not in claimed]
    earlier = {_scope_of(r): r for r in await conn.fetch(
        "SELECT i.client_id, i.method, i.idem_key, i.request_hash, i.response FROM idempotency i"
        " JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(client_id, method, idem_key)"
        " ON (i.client_id, i.method, i.idem_key) = (k.client_id, k.method, k.idem_key)", *_scopes(kept))} \
        if kept else {}
    # A key in neither: its record was forgotten (it was a day old) between the two statements.
    gone = [k for k in kept if k.scope not in earlier]
    to_store = dict(zip(keys, answers, strict=True))
    again = dict(zip(gone, await claim_each(conn, gone, [to_store[k] for k in gone]), strict=True)) if gone else {}
    found: list[Replayed | IdempotencyKeyReused | None] = []
    for key in keys:
        prior = earlier.get(key.scope)
        if key.scope in claimed:
            found.append(None)
        elif prior is None:
            found.append(again[key])
        elif bytes(prior["request_hash"]) != key.request_hash:
            found.append(_reused(key.scope))
        elif prior["response"] is None:  # only work spanning transactions leaves it so (remembered)
            raise RuntimeError(f"idempotency_key '{key.scope.key}' is held by work under way elsewhere")
        else:
            found.append(Replayed(bytes(prior["response"])))
    return found


def _scope_of(row: asyncpg.Record) -> IdempotencyScope:
    return IdempotencyScope(row["client_id"], row["method"], row["idem_key"])


def release_statement(keys: list[IdempotencyKey]) -> Statement:
    """Gives back keys this transaction claimed for work that failed, as its rollback would have:
    the next call with one of them runs the work."""
    return Statement("DELETE FROM idempotency WHERE (client_id, method, idem_key) IN"
                     " (SELECT * FROM unnest($1::text[], $2::text[], $3::text[]))", _scopes(keys))


def _reused(scope: IdempotencyScope) -> IdempotencyKeyReused:
    return IdempotencyKeyReused(f"idempotency_key '{scope.key}' was already used for a different request")


async def remembered(pool: asyncpg.Pool, idem: Idempotent[T], work: Callable[[], Awaitable[T]]) -> T | Replayed:
    """For work that spans several transactions and outside calls (a key rotation, a shred). The key
    is bound to this request before the work starts, so it never answers another request; a retry
    after success gets the stored answer. A retry while the first attempt still runs (or after it
    died) runs the work again, so the work itself must tolerate being repeated."""
    scope, request_hash = idem.key.scope, idem.key.request_hash
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO idempotency (client_id, method, idem_key, request_hash) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT DO NOTHING", scope.client_id, scope.method, scope.key, request_hash)
        claim = await conn.fetchrow(
            "SELECT request_hash, response FROM idempotency WHERE client_id = $1 AND method = $2 AND idem_key = $3",
            scope.client_id, scope.method, scope.key)
    if bytes(claim["request_hash"]) != request_hash:
        raise _reused(scope)
    if claim["response"] is not None:
        return Replayed(bytes(claim["response"]))
    result = await work()
    await pool.execute(
        "UPDATE idempotency SET response = $4 WHERE client_id = $1 AND method = $2 AND idem_key = $3"
        " AND response IS NULL", scope.client_id, scope.method, scope.key, idem.encode(result))
    return result
