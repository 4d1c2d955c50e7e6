"""Field-by-field validation at the edge. Each failed rule names the field and the rule, so a
client can fix its request without reading our code; nothing is applied when any rule fails."""

import re
from collections.abc import Iterable
from dataclasses import dataclass

IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@\-]{0,127}$")
LANGUAGE_TAG = re.compile(r"^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8}){0,3}$")
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
JURISDICTION = re.compile(r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")


@dataclass(frozen=True)
class FieldViolation:
    field: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message} [{self.rule}]"


class InvalidArgument(Exception):
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
        elif not IDENTIFIER.match(value):
            self.fail(field, "string.pattern", "must be 1-128 characters of letters, digits and ._:@-")

    def optional_identifier(self, field: str, value: str) -> None:
        if value:
            self.identifier(field, value)

    def text(self, field: str, value: str, *, max_len: int, required: bool = True) -> None:
        if required and not value.strip():
            self.fail(field, "required", "value is required")
        elif len(value) > max_len:
            self.fail(field, "string.max_len", f"must be at most {max_len} characters")

    def matches(self, field: str, value: str, pattern: re.Pattern[str], what: str) -> None:
        if not value:
            self.fail(field, "required", "value is required")
        elif not pattern.match(value):
            self.fail(field, "string.pattern", f"must be {what}")

    def enum(self, field: str, value: int, allowed: Iterable[int]) -> None:
        if value == 0:
            self.fail(field, "enum.defined_only", "must be set (not UNSPECIFIED)")
        elif value not in set(allowed):
            self.fail(field, "enum.defined_only", f"unknown value {value}")

    def check(self, ok: bool, field: str, rule: str, message: str) -> None:
        if not ok:
            self.fail(field, rule, message)

    def done(self) -> None:
        if self.violations:
            raise InvalidArgument(self.violations)
