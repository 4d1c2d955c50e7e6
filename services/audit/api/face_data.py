"""No face data in the audit log (PIPL 55, 56; Face Recognition Measures Art. 9). A face system's
event carries short readable text (an outcome, a device, a reason); a value that looks like encoded
binary — an image, a template — is refused whole, whatever it claims to be. This catches the
accident (a template logged "for debugging"), not a determined smuggler; the bounds on length and
count of each event's text (validation.py) leave such a one little room."""

import base64
import binascii
import re

# Longer than a UUID's 32 hex digits: no identifier a person reads, easily a template's bytes.
_HEX_RUN = re.compile(r"[0-9a-fA-F]{33,}")
_HEX_TOKEN = re.compile(r"(?:[0-9a-fA-F]{2}){3,}")
_BASE64_TOKEN = re.compile(r"[A-Za-z0-9+/_-]{4,}={0,2}")
# From this length a token whose characters keep changing class (upper, lower, digit, symbol) is
# encoded bytes: random base64 changes class at about 2 characters in 3, words and CamelCase names
# at well under half.
_LONG_TOKEN = 40
_RANDOM_CLASS_CHANGES = 0.5
_DATA_URI = re.compile(r"\bdata:[a-z0-9.+-]*(/[a-z0-9.+-]+)?[;,]", re.IGNORECASE)
_IMAGE_MAGIC = (
    (b"\xff\xd8\xff", "a JPEG image"), (b"\x89PNG", "a PNG image"), (b"GIF8", "a GIF image"),
    (b"RIFF", "a RIFF (WebP) image"), (b"II*\x00", "a TIFF image"), (b"MM\x00*", "a TIFF image"),
    (b"\x00\x00\x00\x0cjP  ", "a JPEG 2000 image"),
)


def _image(data: bytes) -> str | None:
    if data[4:8] == b"ftyp":
        return "an ISO media (HEIC/AVIF) image"
    return next((what for magic, what in _IMAGE_MAGIC if data.startswith(magic)), None)


def _decoded_base64(token: str) -> bytes:
    head = token.rstrip("=")[:24]
    head = head[: len(head) - len(head) % 4]
    try:
        return base64.b64decode(head.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return b""


def _class(c: str) -> int:
    return 0 if c.isupper() else 1 if c.islower() else 2 if c.isdigit() else 3


def _looks_random(token: str) -> bool:
    changes = sum(_class(a) != _class(b) for a, b in zip(token, token[1:], strict=False))
    return changes >= _RANDOM_CLASS_CHANGES * (len(token) - 1)


def encoded_binary(value: str) -> str | None:
    """What the value looks like if it looks like encoded binary, else None."""
    if _DATA_URI.search(value):
        return "a data: URI"
    if (image := _image(value.encode("latin-1", errors="replace"))) is not None:
        return image
    for token in _HEX_TOKEN.findall(value):
        if (image := _image(bytes.fromhex(token[:24]))) is not None:
            return f"hex of {image}"
    if _HEX_RUN.search(value):
        return "a long hex string"
    for token in _BASE64_TOKEN.findall(value):
        if (image := _image(_decoded_base64(token))) is not None:
            return f"base64 of {image}"
        if len(token) >= _LONG_TOKEN and _looks_random(token):
            return "a long base64 string"
    return None
