"""The form DeregisterProcessor keeps its first answer in: the JSON it was stored as before answers
were kept as the responses themselves, which records already stored still use."""

import json
from datetime import UTC, datetime

from consentry.dsr.v1 import dsr_admin_pb2 as admin_pb
from consentry.dsr.v1 import dsr_pb2 as pb
from services.common.idempotent_rpc import StoredAs
from services.common.timestamps import to_timestamp
from services.dsr.api.validation import CAPABILITIES

CAPABILITY_NUMBERS = {name: number for number, name in CAPABILITIES.items()}


def _deregistered_json(r: admin_pb.DeregisterProcessorResponse) -> bytes:
    p = r.processor
    registered = p.registered_at.ToDatetime(tzinfo=UTC).isoformat() if p.HasField("registered_at") else None
    return json.dumps({"name": p.name, "capabilities": sorted(CAPABILITIES[c] for c in p.capabilities),
                       "purposes": sorted(p.purpose_ids), "registeredAt": registered,
                       "tasksFailed": r.tasks_failed}).encode()


def _deregistered(data: bytes) -> admin_pb.DeregisterProcessorResponse:
    d = json.loads(data)
    registered = datetime.fromisoformat(d["registeredAt"]) if d["registeredAt"] else None
    return admin_pb.DeregisterProcessorResponse(
        processor=pb.Processor(name=d["name"], capabilities=sorted(CAPABILITY_NUMBERS[c] for c in d["capabilities"]),
                               purpose_ids=sorted(d["purposes"]), registered_at=to_timestamp(registered)),
        tasks_failed=d["tasksFailed"])


DEREGISTERED = StoredAs(_deregistered_json, _deregistered)
