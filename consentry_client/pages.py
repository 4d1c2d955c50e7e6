"""Every page of a list RPC (AIP-158: page_size, page_token -> next_page_token), so a list is never cut
short at its page size. A page may hold fewer than page_size and still not be the last: only an empty
next_page_token ends a list.

    async for consent in items(stub.ListConsents, ListConsentsRequest(subject_id=s), "consents"):
        ...
    history = await whole(stub.GetConsentHistory, GetConsentHistoryRequest(subject_id=s, purpose_id=p), "events")
"""

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

Request = TypeVar("Request")
Page = TypeVar("Page")


async def pages(fetch: Callable[[Request], Awaitable[Page]], request: Request) -> AsyncIterator[Page]:
    """Each page of the list `request` asks for, in order: `fetch` is the RPC (a stub's method, or a
    function calling it with a timeout); the request is copied, never changed."""
    following: Any = type(request)()
    following.CopyFrom(request)
    while True:
        page: Any = await fetch(following)
        yield page
        if not page.next_page_token:
            return
        following.page_token = page.next_page_token


async def items(fetch: Callable[[Request], Awaitable[Page]], request: Request, field: str) -> AsyncIterator:
    """Each item of the repeated `field` ("consents", "events", "purposes", ...) over every page."""
    async for page in pages(fetch, request):
        for item in getattr(page, field):
            yield item


async def whole(fetch: Callable[[Request], Awaitable[Page]], request: Request, field: str) -> Page:
    """Every page as one answer: the repeated `field` over all pages, every other field as the last page
    had it (GetConsentHistory's consent, which each page carries)."""
    last: Any = None
    collected: list = []
    async for page in pages(fetch, request):
        last = page
        collected.extend(getattr(page, field))
    answer: Any = type(last)()
    answer.CopyFrom(last)
    answer.ClearField(field)
    getattr(answer, field).extend(collected)
    return answer
