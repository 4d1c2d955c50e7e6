"""ListProcessors in pages: every processor once, in name order; a token goes on only with the
listing it came from; a page size above the most is read as the most."""

import base64
import json
import os

import grpc
import pytest

from consentry.dsr.v1 import dsr_pb2 as pb
from services.common.grpc_errors import field_violations
from services.common.page_tokens import PageTokens
from services.dsr.api.validation import MAX_PAGE
from services.dsr.service.processors import LISTING
from tests.dsr.test_requests import submission
from tests.keyvault.test_data_keys import refused
from tests.dsr.fixtures import correcting_processors
from tests.support import unique

pytestmark = pytest.mark.parametrize("backend", ["wrapped"], indirect=True, scope="session")
LISTED = ("listed-1", "listed-2", "listed-3")


@pytest.fixture
async def listed(dsr, dsr_admin):
    """Three more processors, for as long as the test runs: each would be sent the correction tasks of
    every request, so they are deregistered after it."""
    async with correcting_processors(dsr, dsr_admin, LISTED) as names:
        yield names


async def pages_of(operator, page_size: int) -> list[list[str]]:
    """The names on each page, from the first page to the one without a next token."""
    pages, token = [], ""
    while True:
        page = await operator.ListProcessors(pb.ListProcessorsRequest(page_size=page_size, page_token=token))
        pages.append([p.name for p in page.processors])
        token = page.next_page_token
        if not token:
            return pages


async def test_small_pages_list_every_processor_exactly_once(operator, listed, backend):
    whole = [p.name for p in (await operator.ListProcessors(pb.ListProcessorsRequest())).processors]

    pages = await pages_of(operator, 2)

    names = [name for page in pages for name in page]
    assert names == sorted(whole) == whole and set(listed) <= set(names)
    assert all(len(page) == 2 for page in pages[:-1]) and 1 <= len(pages[-1]) <= 2  # no empty last page


async def test_a_forged_altered_or_foreign_token_is_refused_and_changes_nothing(operator, listed, backend):
    before = await pages_of(operator, 1)
    first = await operator.ListProcessors(pb.ListProcessorsRequest(page_size=1))
    await operator.SubmitRequest(submission(unique("subj"), pb.REQUEST_TYPE_ACCESS))  # a request to list
    requests_token = (await operator.ListRequests(pb.ListRequestsRequest(page_size=1))).next_page_token
    tokens = {
        "made by hand": base64.urlsafe_b64encode(bytes(16) + json.dumps(["listed-1"]).encode()).decode(),
        "altered": first.next_page_token[:-4] + ("AAAA" if not first.next_page_token.endswith("AAAA") else "BBBB"),
        "another service's": PageTokens(os.urandom(32)).issue(LISTING, ["listed-1"]),
        "ListRequests'": requests_token,
        "too long": "A" * 2000,
    }

    errors = {what: await refused(operator.ListProcessors, pb.ListProcessorsRequest(page_size=1, page_token=token))
              for what, token in tokens.items()}

    assert requests_token, "ListRequests gave no token to try"
    assert {what: (e.code(), field_violations(e)) for what, e in errors.items()} == dict.fromkeys(
        tokens, (grpc.StatusCode.INVALID_ARGUMENT, [("page_token", "page_token.valid")]))
    assert await pages_of(operator, 1) == before


async def test_a_page_size_above_the_most_is_read_as_the_most(operator, listed, backend):
    oversized = await operator.ListProcessors(pb.ListProcessorsRequest(page_size=2**32 - 1))
    most = await operator.ListProcessors(pb.ListProcessorsRequest(page_size=MAX_PAGE))

    assert [p.name for p in oversized.processors] == [p.name for p in most.processors]
    assert set(LISTED) <= {p.name for p in oversized.processors}
    assert oversized.next_page_token == most.next_page_token == ""  # fewer than the most are registered
