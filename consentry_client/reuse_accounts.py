"""The account of data keys used again from memory (KeyVaultService.RecordReleases).

No use is answered unless a durable record covers it (invariant 4). An account records, for each key
(subject, purpose and the consent term it was released under), the uses counted since its last
account, after keyvault checked the key may still be used; once durable, it covers that key's uses
for `window_s`. The first use of a key in a window waits for its account; the uses after it in the
window are answered at once and counted for the next account, which the next window's first use
sends, or the flush at the window's end. Uses that wait together share one account (at most
`in_flight` on their way): under load a round trip covers many keys, and a key used all day costs
one record per window, not one per use."""

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator

import grpc

from consentry.keyvault.v1 import keyvault_pb2 as pb
from consentry.keyvault.v1 import keyvault_pb2_grpc
from consentry_client.errors import UseNotRecorded

log = logging.getLogger(__name__)

MAX_RELEASES = 1000  # RecordReleases' own limit
# Many keys go as several accounts side by side: keyvault checks and commits them concurrently.
SPLIT_ABOVE = 250
# Covered uses are answered without waiting; every so many of them yield to the event loop, so that a
# gate opening templates in a tight loop still hears its watch streams.
YIELD_EVERY = 100
_RETRIED = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}

Use = tuple[str, str, str, int]  # (subject, purpose, consent, its lapses: the consent term)
Refusals = dict[tuple[str, str], str]  # (subject, purpose) -> why keyvault refused its uses


class ReuseAccounts:
    def __init__(self, keyvault: grpc.aio.Channel, *, window_s: float = 1.0, timeout: float = 5.0,
                 attempts: int = 3, in_flight: int = 4,
                 on_refused: Callable[[str, str], None] = lambda subject, purpose: None) -> None:
        """`on_refused(subject, purpose)`: keyvault refused a key's uses (drop the key)."""
        self._stub = keyvault_pb2_grpc.KeyVaultServiceStub(keyvault)
        self._window, self._timeout, self._attempts, self._most_in_flight = window_s, timeout, attempts, in_flight
        self._on_refused = on_refused
        self._counts: dict[Use, int] = {}  # uses not in an account yet
        self._covered: dict[Use, float] = {}  # until when (time.monotonic()) a durable record covers the key
        self._waiting = False  # whether a use among the counts waits for its account
        self._recorded: asyncio.Future[Refusals] | None = None  # resolves when the waiting uses are durable
        self._in_flight = 0
        self._send_soon = False
        self._flush: asyncio.TimerHandle | None = None
        self._unyielded = 0
        self.uses_answered = 0  # answered from memory (not refused)
        self.uses_recorded = 0  # in durable accounts
        self.accounts_sent = 0

    async def record(self, uses: Iterable[Use]) -> Refusals:
        """Returns once a durable record covers these uses, with those keyvault refused (the key may not
        be used any more: do not answer them); UseNotRecorded if no record could be made. Cancelling a
        caller leaves the account, which others may wait on, to finish."""
        now, counts, mine, pairs = time.monotonic(), self._counts, set(), []
        for use in uses:
            counts[use] = counts.get(use, 0) + 1
            pairs.append(use[:2])
            if self._covered.get(use, 0.0) <= now:
                mine.add(use[:2])
        if not mine:
            self.uses_answered += len(pairs)
            self._flush_later()
            self._unyielded += 1
            if self._unyielded >= YIELD_EVERY:
                self._unyielded = 0
                await asyncio.sleep(0)
            return {}
        self._waiting = True
        if self._recorded is None:
            self._recorded = asyncio.get_running_loop().create_future()
        recorded = self._recorded
        self._send_soon_if_free()
        refused = await asyncio.shield(recorded)
        self.uses_answered += sum(pair not in refused for pair in pairs)
        return {pair: why for pair, why in refused.items() if pair in mine} if refused else {}

    async def close(self) -> None:
        """Sends what was counted and not accounted yet."""
        if self._flush is not None:
            self._flush.cancel()
        if self._counts:
            self._waiting = True
            self._recorded = self._recorded or asyncio.get_running_loop().create_future()
            recorded = self._recorded
            self._send_soon_if_free()
            await asyncio.gather(recorded, return_exceptions=True)

    def _send_soon_if_free(self) -> None:
        if not self._send_soon and self._in_flight < self._most_in_flight:
            self._send_soon = True  # after the uses made in this turn of the event loop
            asyncio.get_running_loop().call_soon(self._send_counted)

    def _flush_later(self) -> None:
        """Counts of covered uses go with the next account; at the latest one window from now."""
        if self._flush is None:
            self._flush = asyncio.get_running_loop().call_later(self._window, self._flush_now)

    def _flush_now(self) -> None:
        self._flush = None
        if self._counts:
            self._waiting = True
            self._send_soon_if_free()

    def _send_counted(self) -> None:
        self._send_soon = False
        if not self._counts or not self._waiting or self._in_flight >= self._most_in_flight:
            return
        counts, recorded = self._counts, self._recorded
        self._counts, self._recorded, self._waiting = {}, None, False
        self._in_flight += 1
        asyncio.get_running_loop().create_task(self._account(counts, recorded))

    async def _account(self, counts: dict[Use, int], recorded: asyncio.Future[Refusals] | None) -> None:
        try:
            size = min(MAX_RELEASES, max(SPLIT_ABOVE, -(-len(counts) // self._most_in_flight)))
            answers = await asyncio.gather(*(self._send(account) for account in _accounts(counts, size)))
        except BaseException as error:  # failed, or cancelled (its channel closed): no waiting use is answered
            if recorded is not None:
                recorded.set_exception(UseNotRecorded(str(error) or type(error).__name__))
                recorded.exception()  # retrieved here, so a use that stopped waiting logs nothing
            log.warning("uses not recorded: %s", str(error) or type(error).__name__)
            if not isinstance(error, Exception):
                raise
        else:
            refused = {(r.subject_id, r.purpose_id): r.reason for answer in answers for r in answer.refused}
            until = time.monotonic() + self._window
            for use, n in counts.items():
                if use[:2] in refused:
                    self._covered.pop(use, None)
                else:
                    self._covered[use] = until
                    self.uses_recorded += n
            for subject_id, purpose_id in refused:
                self._on_refused(subject_id, purpose_id)
            self._forget_lapsed()
            if recorded is not None:
                recorded.set_result(refused)
        finally:
            self._in_flight -= 1
            self._send_counted()  # what waited meanwhile

    def _forget_lapsed(self) -> None:
        if len(self._covered) > 4 * MAX_RELEASES:
            now = time.monotonic()
            self._covered = {use: until for use, until in self._covered.items() if until > now}

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
    """At most `size` keys per account and one per subject and purpose (a consent given again while
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
