"""The forms keyvault's idempotent RPCs keep their first answers in. They predate answers being
kept as the responses themselves, and stay: records stored before must still answer their retries,
and store migration 0005 re-issues the certificates inside stored shred answers in this form."""

import base64
import json

from consentry.keyvault.v1 import keyvault_admin_pb2 as admin_pb
from consentry.keyvault.v1 import keyvault_pb2 as pb
from services.common.idempotent_rpc import StoredAs

_ROTATION = ("kek_version", "keys_rewrapped", "min_available_version")


def _certificate_json(r: admin_pb.ShredSubjectKeyResponse) -> bytes:
    c = r.certificate
    return json.dumps({"json": base64.b64encode(c.certificate_json).decode(),
                       "signature": base64.b64encode(c.signature).decode(), "keyId": c.key_id}).encode()


def _shredded(data: bytes) -> admin_pb.ShredSubjectKeyResponse:
    stored = json.loads(data)
    return admin_pb.ShredSubjectKeyResponse(certificate=pb.DeletionCertificate(
        certificate_json=base64.b64decode(stored["json"]), signature=base64.b64decode(stored["signature"]),
        key_id=stored["keyId"]))


SHREDDED = StoredAs(_certificate_json, _shredded)
RETIRED = StoredAs(lambda r: str(r.retired_generation).encode(),
                   lambda data: pb.RetirePurposeKeysResponse(retired_generation=int(data)))
ROTATED = StoredAs(lambda r: json.dumps([getattr(r, field) for field in _ROTATION]).encode(),
                   lambda data: admin_pb.RotateKekResponse(**dict(zip(_ROTATION, json.loads(data), strict=True))))
