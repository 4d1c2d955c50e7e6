"""The paged reads (AIP-158): purposes, a subject's consents, one consent's history. A page token
carries where its list goes on and is signed over the query (common/page_tokens.py), so it continues
that query and no other: another subject's, another purpose's, another controller's, or another
caller's scope of purposes."""

import json
from collections.abc import Callable, Sequence
from typing import TypeVar

from services.common.page_tokens import PageTokens
from services.consent.domain import errors
from services.consent.domain.history import HistoryEntry
from services.consent.domain.model import Consent, Purpose
from services.consent.service.consents import controller_of
from services.consent.service.ports import ConsentUnits

T = TypeVar("T")


def _query(listing: str, visible: frozenset[str] | None = None, **fields: str) -> bytes:
    """What a token is bound to: the list, its fields, and the purposes the caller may see (None: all)."""
    scope = sorted(visible) if visible is not None else "*"
    return json.dumps({"list": listing, "visible": scope, **fields}, sort_keys=True).encode()


def _text(position: list) -> str:
    (after,) = position
    return str(after)


def _pair(position: list) -> tuple[str, str]:
    purpose_id, controller_id = position
    return str(purpose_id), str(controller_id)


def _row(position: list) -> int:
    (after,) = position
    return int(after)


class ConsentListings:
    def __init__(self, uow: ConsentUnits, tokens: PageTokens) -> None:
        self._uow, self._tokens = uow, tokens

    def _page(self, query: bytes, found: Sequence[T], size: int,
              last: Callable[[T], list[str | int]]) -> tuple[list[T], str]:
        """The first `size` of `found` (read one more than that, to know whether more follow) and the
        token of the next page, which starts after `last` (its position) of the page's last item."""
        if len(found) <= size:
            return list(found), ""
        shown = list(found[:size])
        return shown, self._tokens.issue(query, last(shown[-1]))

    async def purposes(self, controller_id: str | None, visible: frozenset[str] | None, size: int,
                       token: str) -> tuple[list[Purpose], str]:
        """One controller's purposes; None: every controller's (an operator's list, where two controllers'
        purposes may share an id: by id, then controller)."""
        query = _query("purposes", visible, controller_id=controller_id or "*")
        after = self._tokens.continued(token, query, _pair) if token else ("", "")
        async with self._uow() as uow:
            found = await uow.store.purposes(controller_id or "", visible, after, size + 1)
        return self._page(query, found, size, lambda p: [p.purpose_id, p.controller_id])

    async def consents(self, subject_id: str, controller_id: str, visible: frozenset[str] | None, size: int,
                       token: str) -> tuple[list[Consent], str]:
        """The subject's consents at one controller (the same person elsewhere is another subject)."""
        query = _query("consents", visible, subject_id=subject_id, controller_id=controller_id)
        after = self._tokens.continued(token, query, _text) if token else ""
        async with self._uow() as uow:
            found = await uow.store.consents_of(subject_id, controller_id, visible, after, size + 1)
        return self._page(query, found, size, lambda c: [c.purpose_id])

    async def history(self, subject_id: str, purpose_id: str, within: str | None, size: int,
                      token: str) -> tuple[Consent, list[HistoryEntry], str]:
        """The record as it stands and a page of its history; the record comes with every page. `within`:
        the controller whose purpose it is (another's is one that does not exist), None for an operator
        who named none (see consents.controller_of)."""
        query = _query("history", subject_id=subject_id, purpose_id=purpose_id, controller_id=within or "*")
        after = self._tokens.continued(token, query, _row) if token else 0
        async with self._uow() as uow:
            consent = await uow.store.consent(await controller_of(uow, purpose_id, within), subject_id, purpose_id)
            if consent is None:
                raise errors.ConsentNotFound(subject_id, purpose_id)
            found = await uow.store.history_after(consent.consent_id, after, size + 1)
        rows, next_token = self._page(query, found, size, lambda row: [row[0]])
        return consent, [entry for _, entry in rows], next_token
