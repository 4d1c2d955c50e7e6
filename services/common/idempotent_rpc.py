"""Idempotent RPCs, answered the same way by every servicer. The use case gets the request's
idempotency key (caller, method, key, fingerprint of the request) and how to store its result: as
the response it becomes. A retry is answered with those stored bytes, parsed as the response they
were, never decoded to domain objects to be encoded again."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from google.protobuf.message import Message

from services.common import auth
from services.common.idempotency import Idempotent, IdempotencyKey, IdempotencyScope, Replayed

T = TypeVar("T")
M = TypeVar("M", bound=Message)


def key_of(method: str, request: Message) -> IdempotencyKey:
    """The calling client's key for this request (its `idempotency_key` field)."""
    scope = IdempotencyScope(auth.current_client().client_id, method, request.idempotency_key)  # type: ignore[attr-defined]
    return IdempotencyKey.of(scope, request.SerializeToString(deterministic=True))


@dataclass(frozen=True)
class StoredAs(Generic[M]):
    """A stored form other than the response's own bytes: one that answers kept before must still read."""

    to_bytes: Callable[[M], bytes]
    from_bytes: Callable[[bytes], M]


async def idempotent(method: str, request: Message, response_type: type[M], respond: Callable[[T], M],
                     use_case: Callable[[Idempotent[T]], Awaitable[T | Replayed]],
                     stored: StoredAs[M] | None = None) -> M:
    """Runs `use_case`; `respond` makes the response of a first result, which is what retries get."""
    first: list[M] = []

    def encode(result: T) -> bytes:
        first.append(respond(result))
        return stored.to_bytes(first[-1]) if stored else first[-1].SerializeToString()

    result = await use_case(Idempotent(key_of(method, request), encode))
    if isinstance(result, Replayed):
        return stored.from_bytes(result.answer) if stored else response_type.FromString(result.answer)
    return first[-1] if first else respond(result)
