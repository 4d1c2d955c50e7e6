"""The account of data keys used again from memory (KeyVaultService.RecordReleases).

Every use waits for the account that holds it to be durable at keyvault before its caller is
answered, as a release by keyvault itself would (invariant 4). Uses are counted per subject, purpose
and consent while one account is on its way, and the next account carries everything counted
meanwhile: under load an account holds many uses, a lone use waits one round trip."""

import asyncio
import logging
import uuid
from collections.abc import Iterator

import grpc

from consentry.keyvault.v1 import keyvault_pb2 as pb
from consentry.keyvault.v1 import keyvault_pb2_grpc
from consentry_client.errors import UseNotRecorded

log = logging.getLogger(__name__)

MAX_RELEASES = 1000  # RecordReleases' own limit
_RETRIED = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}

Use = tuple[str, str, str]  # (subject, purpose, consent)


class ReuseAccounts:
    def __init__(self, keyvault: grpc.aio.Channel, *, timeout: float = 5.0, attempts: int = 3) -> None:
        self._stub = keyvault_pb2_grpc.KeyVaultServiceStub(keyvault)
        self._timeout, self._attempts = timeout, attempts
        self._counts: dict[Use, int] = {}
        self._recorded: asyncio.Future[None] | None = None  # resolves when the counted uses are durable
        self._sending = False
        self.uses_recorded = 0
        self.accounts_sent = 0

    async def record(self, subject_id: str, purpose_id: str, consent_id: str) -> None:
        """Returns once this use is durable at keyvault; UseNotRecorded if it could not be made so."""
        use = (subject_id, purpose_id, consent_id)
        self._counts[use] = self._counts.get(use, 0) + 1
        if self._recorded is None:
            self._recorded = asyncio.get_running_loop().create_future()
        recorded = self._recorded
        if not self._sending:
            self._sending = True
            asyncio.get_running_loop().create_task(self._send_while_counted())
        await asyncio.shield(recorded)

    async def _send_while_counted(self) -> None:
        try:
            while self._counts:
                counts, recorded = self._counts, self._recorded
                self._counts, self._recorded = {}, None
                assert recorded is not None
                try:
                    await asyncio.gather(*(self._send(account) for account in _accounts(counts)))
                except Exception as error:  # noqa: BLE001 - every waiting use learns it was not recorded
                    recorded.set_exception(UseNotRecorded(str(error) or type(error).__name__))
                    recorded.exception()  # retrieved here, so a use that stopped waiting logs nothing
                else:
                    self.uses_recorded += sum(counts.values())
                    recorded.set_result(None)
        finally:
            self._sending = False

    async def _send(self, account: list[tuple[Use, int]]) -> None:
        request = pb.RecordReleasesRequest(idempotency_key=str(uuid.uuid4()), releases=[
            pb.RecordReleasesRequest.Release(subject_id=s, purpose_id=p, consent_id=c, count=n)
            for (s, p, c), n in account])
        for attempt in range(1, self._attempts + 1):
            try:
                await self._stub.RecordReleases(request, timeout=self._timeout)
                self.accounts_sent += 1
                return
            except grpc.aio.AioRpcError as error:  # a retry under the same key is recorded once
                if error.code() not in _RETRIED or attempt == self._attempts:
                    raise
                log.warning("recording uses failed (%s); retrying", error.code().name)
                await asyncio.sleep(0.05 * attempt)


def _accounts(counts: dict[Use, int]) -> Iterator[list[tuple[Use, int]]]:
    """At most MAX_RELEASES per account and one per subject and purpose (a consent given again while
    uses were counted makes a second one)."""
    accounts: list[tuple[list[tuple[Use, int]], set[tuple[str, str]]]] = []
    for use, count in counts.items():
        pair = use[:2]
        home = next((a for a in accounts if pair not in a[1] and len(a[0]) < MAX_RELEASES), None)
        if home is None:
            home = ([], set())
            accounts.append(home)
        home[0].append((use, count))
        home[1].add(pair)
    return (account for account, _ in accounts)
