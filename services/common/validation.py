"""Field-by-field validation at the edge. Each failed rule names the field and the rule, so a
client can fix its request without reading our code; nothing is applied when any rule fails.

Every pattern matches the whole value (`fullmatch`): "demo-tom\\n" is not the identifier "demo-tom"."""

import re
import uuid
from collections.abc import Iterable, Sized
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from google.protobuf import duration_pb2, timestamp_pb2

IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@\-]{0,127}")
LANGUAGE_TAG = re.compile(r"[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8}){0,3}")
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
JURISDICTION = re.compile(r"[A-Z]{2}(-[A-Z0-9]{1,3})?")
# Control characters but tab, line feed and carriage return: PostgreSQL cannot store NUL in text,
# and the others hide from a reader what a record says.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# The range google.protobuf.Timestamp itself allows (years 1 to 9999, RFC 3339).
_MIN_SECONDS, _MAX_SECONDS = -62_135_596_800, 253_402_300_799
# A client's clock may run a little ahead of ours; "not in the future" allows this much.
CLOCK_SKEW = timedelta(seconds=5)
# Far longer than any token a service issues (common/page_tokens.py): a longer one was never ours.
MAX_PAGE_TOKEN = 1024


def is_identifier(value: str) -> bool:
    return IDENTIFIER.fullmatch(value) is not None


@dataclass(frozen=True)
class FieldViolation:
    field: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message} [{self.rule}]"


class InvalidArgument(Exception):
    reason = "REQUEST_INVALID"

    def __init__(self, violations: list[FieldViolation]) -> None:
        super().__init__("; ".join(map(str, violations)))
        self.violations = violations


class Validator:
    """Collects violations; `done()` raises them all at once."""

    def __init__(self) -> None:
        self.violations: list[FieldViolation] = []

    def fail(self, field: str, rule: str, message: str) -> None:
        self.violations.append(FieldViolation(field, rule, message))

    def identifier(self, field: str, value: str) -> None:
        if not value:
            self.fail(field, "required", "value is required")
        elif not is_identifier(value):
            self.fail(field, "string.pattern", "must be 1-128 characters of letters, digits and ._:@-")

    def optional_identifier(self, field: str, value: str) -> None:
        if value:
            self.identifier(field, value)

    def text(self, field: str, value: str, *, max_len: int, required: bool = True) -> None:
        if required and not value.strip():
            self.fail(field, "required", "value is required")
        elif len(value) > max_len:
            self.fail(field, "string.max_len", f"must be at most {max_len} characters")
        elif _CONTROL.search(value):
            self.fail(field, "string.no_control", "must not contain control characters (such as NUL)")

    def matches(self, field: str, value: str, pattern: re.Pattern[str], what: str) -> None:
        if not value:
            self.fail(field, "required", "value is required")
        elif not pattern.fullmatch(value):
            self.fail(field, "string.pattern", f"must be {what}")

    def uuid(self, field: str, value: str, message: str = "must be a UUID") -> None:
        try:
            uuid.UUID(value)
        except ValueError:
            self.fail(field, "string.uuid", message)

    def enum(self, field: str, value: int, allowed: Iterable[int]) -> None:
        if value == 0:
            self.fail(field, "enum.defined_only", "must be set (not UNSPECIFIED)")
        elif value not in set(allowed):
            self.fail(field, "enum.defined_only", f"unknown value {value}")

    def count(self, field: str, items: Sized, *, most: int, least: int = 0) -> None:
        if not least <= len(items) <= most:
            self.fail(field, "repeated.items", f"between {least} and {most} items")

    def timestamp(self, field: str, value: timestamp_pb2.Timestamp | None, *, required: bool = False,
                  earliest: datetime | None = None, latest: datetime | None = None) -> datetime | None:
        """The time, if it is one: inside the Timestamp range and the given bounds. `latest=now()`
        means "not in the future" (a client clock up to CLOCK_SKEW ahead is tolerated)."""
        if value is None:
            if required:
                self.fail(field, "required", "value is required")
            return None
        if not (_MIN_SECONDS <= value.seconds <= _MAX_SECONDS and 0 <= value.nanos < 1_000_000_000):
            self.fail(field, "timestamp.valid", "must be a time between the years 1 and 9999")
            return None
        at = value.ToDatetime(UTC)
        if earliest is not None and at < earliest:
            self.fail(field, "timestamp.gte", f"must not be before {earliest.isoformat()}")
        elif latest is not None and at > latest + CLOCK_SKEW:
            self.fail(field, "timestamp.lte", f"must not be after {latest.isoformat()}")
        return min(at, latest) if latest is not None else at

    def duration(self, field: str, value: duration_pb2.Duration | None, *, shortest: timedelta,
                 longest: timedelta) -> timedelta | None:
        if value is None:
            self.fail(field, "required", "value is required")
            return None
        seconds = value.seconds + value.nanos / 1e9
        if not (abs(value.nanos) < 1_000_000_000 and shortest.total_seconds() <= seconds <= longest.total_seconds()):
            self.fail(field, "duration.range", f"must be between {shortest} and {longest}")
            return None
        return value.ToTimedelta()

    def page(self, size: int, token: str, *, default: int, most: int) -> int:
        """The page size a list answers with (AIP-158): 0 means the default, more than the most is the
        most, not an error. A token's signature is checked where it is read, against its query."""
        self.check(len(token) <= MAX_PAGE_TOKEN, "page_token", "page_token.valid", "not a token from an earlier page")
        return min(size or default, most)

    def check(self, ok: bool, field: str, rule: str, message: str) -> None:
        if not ok:
            self.fail(field, rule, message)

    def done(self) -> None:
        if self.violations:
            raise InvalidArgument(self.violations)


def present(message, field: str):
    """The sub-message if the request set it, else None (proto3 message fields are never null)."""
    return getattr(message, field) if message.HasField(field) else None
