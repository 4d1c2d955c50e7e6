"""AuditService over gRPC: proto <-> domain mapping only."""


from collections.abc import Callable

from consentry.audit.v1 import audit_pb2 as pb
from consentry.audit.v1 import audit_pb2_grpc

from services.audit.api import validation as valid
from services.audit.domain.checkpoint import Checkpoint
from services.audit.service.appending import Inbox
from services.audit.service.reader import LogReader
from services.common import auth
from services.common.timestamps import to_timestamp


def _checkpoint(c: Checkpoint) -> pb.Checkpoint:
    return pb.Checkpoint(tree_size=c.tree_size, root_hash=c.root_hash, issued_at=to_timestamp(c.issued_at), note=c.note,
                         signature=c.signature, key_id=c.key_id)


class AuditServicer(audit_pb2_grpc.AuditServiceServicer):
    def __init__(self, inbox: Inbox, reader: LogReader, public_key: tuple[str, str],
                 producer_controller: Callable[[str], str | None] = lambda producer: None) -> None:
        """`producer_controller`: the controller a producer (a face system: an audit client) acts for,
        None for the platform's own services."""
        self._inbox, self._reader, self._public_key = inbox, reader, public_key
        self._producer_controller = producer_controller

    async def Append(self, request, context):
        events = valid.append(request, auth.current_client().client_id)
        return pb.AppendResponse(accepted=await self._inbox.append(events))

    async def GetCheckpoint(self, request, context):
        return pb.GetCheckpointResponse(checkpoint=_checkpoint(await self._reader.checkpoint()))

    async def GetPublicKey(self, request, context):
        key_id, pem = self._public_key
        return pb.GetPublicKeyResponse(key_id=key_id, public_key_pem=pem)

    async def GetInclusionProof(self, request, context):
        valid.tree_size("tree_size", request.tree_size)
        size, leaf, hashes, body = await self._reader.inclusion(request.leaf_index, request.tree_size,
                                                                auth.current_controller(), request.include_entry)
        return pb.GetInclusionProofResponse(leaf_index=request.leaf_index, tree_size=size, leaf_hash=leaf,
                                            hashes=hashes, entry_json=body)

    async def GetConsistencyProof(self, request, context):
        valid.consistency(request)
        size, hashes = await self._reader.consistency(request.old_size, request.new_size)
        return pb.GetConsistencyProofResponse(old_size=request.old_size, new_size=size, hashes=hashes)

    async def QueryEvents(self, request, context):
        where, size = valid.query(request)
        read = await self._reader.resolve(where, request.filter.subject_id)
        if read is None:  # a shredded or unknown subject: nothing points to them any more
            return pb.QueryEventsResponse()
        found, token = await self._reader.query(read, size, request.page_token)
        return pb.QueryEventsResponse(entries=[pb.Entry(leaf_index=i, entry_json=body) for i, body in found],
                                      next_page_token=token)

    async def ExportEvents(self, request, context):
        where = valid.export(request)
        # "-" matches no entry: the export of an unknown subject still carries the signed checkpoint
        read = await self._reader.resolve(where, request.filter.subject_id) or where.with_subject_ref("-")
        async for chunk in self._reader.export(read, request.since_tree_size):
            yield pb.ExportEventsResponse(data=chunk)

    async def VerifyLog(self, request, context):
        verdict = await self._reader.verify()
        return pb.VerifyLogResponse(ok=not verdict.problems and verdict.tree_size > 0, tree_size=verdict.tree_size,
                                    entries_checked=verdict.entries_checked,
                                    checkpoints_checked=verdict.checkpoints_checked, problems=verdict.problems)

    async def GetCompleteness(self, request, context):
        report, caller = [], auth.current_controller()
        for p in await self._reader.completeness():
            if caller is not None and self._producer_controller(p.producer) not in (None, caller):
                continue  # another controller's face system: its name is that controller's business
            row = pb.ProducerCompleteness(producer=p.producer, complete_up_to=p.complete_up_to,
                                          highest_seen=p.highest_seen, missing=p.missing)
            if p.replay_requested_at is not None:
                row.replay_requested_at.CopyFrom(to_timestamp(p.replay_requested_at))
            report.append(row)
        return pb.GetCompletenessResponse(producers=report)
