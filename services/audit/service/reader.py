"""Reading the log: checkpoints, RFC 9162 proofs from the stored perfect subtrees, and queries.
Everything is answered against a signed tree size, never against entries not yet checkpointed."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

from services.audit.domain import errors, merkle, proofs
from services.audit.domain.checkpoint import Checkpoint
from services.audit.domain.completeness import ProducerProgress
from services.audit.domain.entry import EntryFilter, belongs_to
from services.audit.service.export import export_lines
from services.audit.service.ports import LogUnits
from services.audit.service.signed_sizes import SignedSizes
from services.audit.service.tree_nodes import TreeNodes
from services.audit.service.verification import LogVerdict, verify_log
from services.common.page_tokens import PageTokens

DEFAULT_PAGE, MAX_PAGE = 100, 1000


def _after(position: list) -> tuple[int, int]:
    """The last leaf a page showed, and the signed tree size every page of the query reads."""
    after, size = position
    return int(after), int(size)


class LogReader:
    def __init__(self, uow: LogUnits, subject_ref: Callable[[str, str], Awaitable[str]], tokens: PageTokens,
                 public_key_pem: str, default_controller: str = "", signed: SignedSizes | None = None,
                 nodes: TreeNodes | None = None) -> None:
        """`subject_ref(controller, subject id)`: keyvault's reference; `public_key_pem`: the checkpoint
        signer's, which VerifyLog checks every signature against; `default_controller`: whose the
        entries from before controllers are; `nodes`: where proofs read the tree (without it, the store)."""
        self._uow = uow
        self._subject_ref = subject_ref
        self._tokens = tokens
        self._public_key = public_key_pem
        self._default_controller = default_controller
        self._signed = signed or SignedSizes()  # without its channel: never known, the store is asked
        self._nodes = nodes or TreeNodes(uow)
        # One VerifyLog at a time: each holds three connections and keeps both cores busy, so several
        # at once gain nothing and could take every pooled connection, each waiting for its third.
        self._verifying = asyncio.Lock()

    async def checkpoint(self) -> Checkpoint:
        async with self._uow.autocommit() as store:
            latest = await store.latest_checkpoint()
        if latest is None:
            raise errors.EmptyLog()
        self._signed.learnt(latest.tree_size)
        return latest

    async def _signed_size(self, requested: int, what: str = "tree_size", at_least: int = 0) -> int:
        """The requested tree size, 0 meaning the latest; only the size of a signed checkpoint.
        `at_least`: a latest smaller than this is read again from the store before it is answered
        (a checkpoint whose announcement has not arrived yet)."""
        latest = self._signed.latest()
        if latest is None or max(requested, at_least) > latest:
            latest = await self._stored_latest()
        if not requested:
            return latest
        if requested > latest:
            raise errors.BeyondTree(what, requested, latest)
        if requested != latest and not self._signed.is_signed(requested):
            async with self._uow.autocommit() as store:
                if await store.checkpoint_at(requested) is None:
                    raise errors.NotSigned(what, requested)
            self._signed.learnt(requested)
        return requested

    async def _stored_latest(self) -> int:
        epoch = self._signed.epoch
        async with self._uow.autocommit() as store:
            latest = await store.latest_checkpoint()
        if latest is None:
            raise errors.EmptyLog()
        self._signed.read_latest(latest.tree_size, epoch)
        return latest.tree_size

    async def inclusion(self, leaf_index: int, tree_size: int, controller_id: str | None = None,
                        with_entry: bool = False) -> tuple[int, bytes, list[bytes], bytes]:
        """(tree size, leaf hash, audit path, the entry's JSON if asked `with_entry` else b""). `controller_id`: the caller's, if it is a controller's
        client; a leaf that is not one of its controller's entries is then LeafNotFound, beyond the
        tree or not: the tree's size is public (checkpoints are global), whose a leaf is is not."""
        size = await self._signed_size(tree_size, at_least=leaf_index + 1)
        if controller_id is not None and (leaf_index >= size or not await self._owned(leaf_index, controller_id)):
            raise errors.LeafNotFound(leaf_index)
        if leaf_index >= size:
            raise errors.BeyondTree("leaf_index", leaf_index, size)
        plan = proofs.inclusion_plan(leaf_index, size)
        nodes = await self._nodes.read(size, merkle.addresses_for(plan) | {(0, leaf_index)})
        body = b""
        if with_entry:
            async with self._uow.autocommit() as store:
                body = await store.leaf_body(leaf_index) or b""
        return size, nodes[(0, leaf_index)], merkle.hashes_for(plan, nodes), body

    async def _owned(self, leaf_index: int, controller_id: str) -> bool:
        async with self._uow.autocommit() as store:
            stored, owner = await store.leaf_controller(leaf_index)
        return stored and belongs_to(owner, controller_id, self._default_controller)

    async def consistency(self, old_size: int, new_size: int) -> tuple[int, list[bytes]]:
        """Between two signed trees: the one the caller holds and a later one."""
        size = await self._signed_size(new_size, "new_size", at_least=old_size)
        if old_size > size:
            raise errors.BeyondTree("old_size", old_size, size)
        await self._signed_size(old_size, "old_size")
        plan = proofs.consistency_plan(old_size, size)
        nodes = await self._nodes.read(size, merkle.addresses_for(plan))
        return size, merkle.hashes_for(plan, nodes)

    async def completeness(self) -> list[ProducerProgress]:
        async with self._uow.autocommit() as store:
            return sorted(await store.progress(), key=lambda p: p.producer)

    async def resolve(self, where: EntryFilter, subject_id: str) -> EntryFilter | None:
        """The filter as the store reads it: in its controller (with the entries from before
        controllers if that is the default one), a subject id turned into the controller's reference
        for it; None when the subject has none there (shredded, unknown, or another controller's)."""
        where = where.in_controller(self._default_controller)
        if not subject_id:
            return where
        assert where.controller_id is not None  # validation: a subject id is always read in one controller
        ref = await self._subject_ref(where.controller_id, subject_id)
        return where.with_subject_ref(ref) if ref else None

    async def query(self, where: EntryFilter, page_size: int, token: str) -> tuple[list[tuple[int, bytes]], str]:
        """A page of entries of the signed tree; a page token carries the tree's size and goes on only
        the query it came from, so it can never reach entries no signed checkpoint covers."""
        if token:
            after, size = self._position(where, token)
        else:
            async with self._uow.autocommit() as store:
                latest = await store.latest_checkpoint()
            if latest is None:  # nothing signed yet: nothing to show
                return [], ""
            after, size = -1, latest.tree_size
        async with self._uow.autocommit() as store:
            found = await store.find(where, after, size, page_size)
        more = len(found) == page_size
        return found, self._tokens.issue(where.fingerprint(), [found[-1][0], size]) if more else ""

    def _position(self, where: EntryFilter, token: str) -> tuple[int, int]:
        return self._tokens.continued(token, where.fingerprint(), _after)

    def export(self, where: EntryFilter, since_tree_size: int) -> AsyncIterator[bytes]:
        """ExportEvents' JSON Lines, against the latest signed tree (export.py)."""
        return export_lines(self._uow, where, since_tree_size)

    async def verify(self) -> LogVerdict:
        """VerifyLog: the whole log re-checked from what the database holds (verification.py)."""
        async with self._verifying:
            return await verify_log(self._uow, self._public_key)
