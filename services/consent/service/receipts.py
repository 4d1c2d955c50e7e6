"""Opening a receipt that someone hands back to be shown: its key and signature are checked before a
byte of it is read, so only what this service signed is ever shown as a receipt."""

from dataclasses import dataclass

from services.common.signing import verify_signature
from services.consent.domain.errors import ReceiptKeyUnknown, ReceiptSignatureInvalid
from services.consent.domain.receipt import ReceiptContent, read_receipt


@dataclass(frozen=True)
class VerifiedReceipt:
    """A receipt whose signature verified: its content, and the signed bytes it was read from."""

    content: ReceiptContent
    receipt_json: bytes
    signature: bytes
    key_id: str


class ReceiptVerifier:
    def __init__(self, key_id: str, public_key_pem: str) -> None:
        self._key_id = key_id
        self._public_key_pem = public_key_pem

    def open(self, receipt_json: bytes, signature: bytes, key_id: str) -> VerifiedReceipt:
        """The receipt, if this service's key signed exactly these bytes: ReceiptKeyUnknown,
        ReceiptSignatureInvalid, or (only for a signed document) ReceiptMalformed otherwise."""
        if key_id != self._key_id:
            raise ReceiptKeyUnknown(key_id, self._key_id)
        if not verify_signature(self._public_key_pem, receipt_json, signature):
            raise ReceiptSignatureInvalid()
        return VerifiedReceipt(read_receipt(receipt_json), receipt_json, signature, key_id)
