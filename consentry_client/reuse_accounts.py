"""The account of data keys used again from memory (KeyVaultService.RecordReleases).

Every use waits for the account that holds it to be durable at keyvault before its caller is
answered, as a release by keyvault itself would (invariant 4). Uses are counted per subject, purpose
and consent while accounts are on their way (at most `in_flight` at once), and the next account
carries everything counted meanwhile: under load an account holds many uses, a lone use waits one
round trip."""

import asyncio
import logging
import uuid
from collections.abc import Iterable, Iterator

import grpc

from consentry.keyvault.v1 import keyvault_pb2 as pb
from consentry.keyvault.v1 import keyvault_pb2_grpc
from consentry_client.errors import UseNotRecorded

log = logging.getLogger(__name__)

MAX_RELEASES = 1000  # RecordReleases' own limit
# Many uses go as several accounts side by side: keyvault checks and commits them concurrently.
SPLIT_ABOVE = 250
_RETRIED = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}

Use = tuple[str, str, str, int]  # (subject, purpose, consent, its lapses: the consent term)
Refusals = dict[tuple[str, str], str]  # (subject, purpose) -> why keyvault refused its uses


class ReuseAccounts:
    def __init__(self, keyvault: grpc.aio.Channel, *, timeout: float = 5.0, attempts: int = 3,
                 in_flight: int = 4) -> None:
        self._stub = keyvault_pb2_grpc.KeyVaultServiceStub(keyvault)
        self._timeout, self._attempts, self._most_in_flight = timeout, attempts, in_flight
        self._counts: dict[Use, int] = {}
        self._recorded: asyncio.Future[Refusals] | None = None  # resolves when the counted uses are durable
        self._in_flight = 0
        self._send_soon = False
        self.uses_recorded = 0
        self.accounts_sent = 0

    async def record(self, uses: Iterable[Use]) -> Refusals:
        """Returns once these uses are durable at keyvault, with those it refused (the key may not be
        used any more: do not answer them); UseNotRecorded if they could not be made durable.
        Cancelling a caller leaves the account, which others may wait on, to finish."""
        counts, mine = self._counts, set()
        for use in uses:
            counts[use] = counts.get(use, 0) + 1
            mine.add(use[:2])
        if not mine:
            return {}
        if self._recorded is None:
            self._recorded = asyncio.get_running_loop().create_future()
        recorded = self._recorded
        if not self._send_soon and self._in_flight < self._most_in_flight:
            self._send_soon = True  # after the uses made in this turn of the event loop
            asyncio.get_running_loop().call_soon(self._send_counted)
        refused = await asyncio.shield(recorded)
        return {pair: why for pair, why in refused.items() if pair in mine} if refused else {}

    def _send_counted(self) -> None:
        self._send_soon = False
        if not self._counts or self._in_flight >= self._most_in_flight:
            return
        counts, recorded = self._counts, self._recorded
        self._counts, self._recorded = {}, None
        assert recorded is not None
        self._in_flight += 1
        asyncio.get_running_loop().create_task(self._account(counts, recorded))

    async def _account(self, counts: dict[Use, int], recorded: asyncio.Future[Refusals]) -> None:
        try:
            size = max(SPLIT_ABOVE, -(-len(counts) // self._most_in_flight))
            answers = await asyncio.gather(*(self._send(account) for account in _accounts(counts, min(size, MAX_RELEASES))))
        except BaseException as error:  # failed, or cancelled (its channel closed): no use is answered
            recorded.set_exception(UseNotRecorded(str(error) or type(error).__name__))
            recorded.exception()  # retrieved here, so a use that stopped waiting logs nothing
            if not isinstance(error, Exception):
                raise
        else:
            refused = {(r.subject_id, r.purpose_id): r.reason for answer in answers for r in answer.refused}
            self.uses_recorded += sum(n for use, n in counts.items() if use[:2] not in refused)
            recorded.set_result(refused)
        finally:
            self._in_flight -= 1
            self._send_counted()  # what was counted meanwhile

    async def _send(self, account: list[tuple[Use, int]]) -> pb.RecordReleasesResponse:
        request = pb.RecordReleasesRequest(idempotency_key=str(uuid.uuid4()), releases=[
            pb.RecordReleasesRequest.Release(subject_id=s, purpose_id=p, consent_id=c, consent_lapses=lapses, count=n)
            for (s, p, c, lapses), n in account])
        attempt = 1
        while True:
            try:
                answer = await self._stub.RecordReleases(request, timeout=self._timeout)
                self.accounts_sent += 1
                return answer
            except grpc.aio.AioRpcError as error:  # a retry under the same key is recorded once
                if error.code() not in _RETRIED or attempt == self._attempts:
                    raise
                log.warning("recording uses failed (%s); retrying", error.code().name)
                await asyncio.sleep(0.05 * attempt)
                attempt += 1


def _accounts(counts: dict[Use, int], size: int) -> Iterator[list[tuple[Use, int]]]:
    """At most `size` uses per account and one per subject and purpose (a consent given again while
    uses were counted makes a second one)."""
    accounts: list[tuple[list[tuple[Use, int]], set[tuple[str, str]]]] = []
    for use, count in counts.items():
        pair = use[:2]
        home = next((a for a in accounts if pair not in a[1] and len(a[0]) < size), None)
        if home is None:
            home = ([], set())
            accounts.append(home)
        home[0].append((use, count))
        home[1].add(pair)
    return (account for account, _ in accounts)
