"""Hypothesis strategies for any request message, from its descriptor: random and boundary values of
every field type. Fields are biased towards good values (a known-good one from the seeded world, or a
typical valid one): many requests are valid or have exactly one bad field, so they get past
validation into the deeper code."""

import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import strategies as st

F = FieldDescriptor
MAX_DEPTH = 4
WELL_KNOWN = {"google.protobuf.Timestamp", "google.protobuf.Duration"}
HUGE = 1 << 20  # 1 MiB: a quarter of gRPC's default message limit
IDENTIFIER = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,40}", fullmatch=True)
PERCENT = st.sampled_from(range(100))  # uniform: st.integers leans towards small numbers

INT_RANGES = {
    **dict.fromkeys((F.TYPE_INT32, F.TYPE_SINT32, F.TYPE_SFIXED32), (-2**31, 2**31 - 1)),
    **dict.fromkeys((F.TYPE_INT64, F.TYPE_SINT64, F.TYPE_SFIXED64), (-2**63, 2**63 - 1)),
    **dict.fromkeys((F.TYPE_UINT32, F.TYPE_FIXED32), (0, 2**32 - 1)),
    **dict.fromkeys((F.TYPE_UINT64, F.TYPE_FIXED64), (0, 2**64 - 1)),
}
INT_EDGES = [0, 1, -1, 2, 100, 999, 1000, 1001, 2**53, 2**53 + 1, 2**62]
# Each side of every integer type's limits: what overflows a column or a C int further in.
INT_LIMITS = [2**31 - 1, 2**31, -2**31, -2**31 - 1, 2**32 - 1, 2**32, 2**63 - 1, 2**63, -2**63, 2**64 - 1]
ENUM_UNKNOWN = [99, 2**31 - 1, -1, -2**31]
FLOAT_EDGES = [math.nan, math.inf, -math.inf, -0.0, 0.0, 0.5, 1.0, 1.0000001, -1.0, 1e308, -1e308, 5e-324]
STRING_EDGES = ["", " ", "\t", "\n", "abc\n", " abc", "abc ", "a\x00b", "\x00", "\x01\x1f\x7f", "\r\n",
                "\u200f\u202eabc\u202c", "人脸识别闸机", "😀👨‍👩‍👧", "e\u0301", "\ufeff", "\u2028",
                "a" * 128, "a" * 129, "'; DROP TABLE outbox; --", "../../etc/passwd", "%s%n%x", "NaN", "-1", "0",
                "null"]
INVALID_UTF8 = [b"\xff\xfe\xc3", b"\xc3\x28", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80",
                b"\xe2\x82"]
LONG_LENGTHS = [4097, 100_001, HUGE]
BIG_BYTES = [65_536, 65_537, 65_600, 65_601, HUGE]
MANY = [1000, 1001, 1100]
# Timestamps and durations: out of range (2**40 s, year 10000, before year 1), bad nanos, and the
# valid extremes (year 9999, year 1).
TS_SECONDS = [2**40, -10**12, 253402300800, -62135596801, 253402300799, -62135596800, 0, -1, 2**63 - 1,
              -2**63]
DURATION_SECONDS = [0, -1, 1, 315_576_000_000, 315_576_000_001, -315_576_000_001, 10**12, 2**63 - 1, -2**63]
NANOS = [0, -1, 999_999_999, 10**9, 2**31 - 1, -2**31]
NEAR = [lambda v: v + "\n", lambda v: v + "\x00", lambda v: "\x00" + v, lambda v: " " + v, lambda v: v + " ",
        lambda v: v.upper(), lambda v: v[:-1], lambda v: v + v, lambda v: v + "\u200f", lambda v: v + "😀",
        lambda v: v.replace("-", "\x00")]


@dataclass
class Draft:
    """One request while it is drawn. Invalid UTF-8 cannot be set through the protobuf API, so such a
    string holds a unique ASCII placeholder of the same length, replaced in the serialized bytes
    (lengths stay right, at any depth, in repeated fields and map keys alike)."""
    draw: Callable
    world: "object"  # world.World: known-good strategies by field
    p_good: int  # percent
    bad_field: str | None  # else this field (full name) is the one bad field, all others are good
    # Only some requests may carry invalid UTF-8: it fails the whole request at parsing, so where every
    # request of many string fields had a chance of it, little would get further.
    invalid_utf8: bool
    raw: dict[str, bytes] = field(default_factory=dict)

    def good(self, f: FieldDescriptor) -> bool:
        """Whether a field (its value, count or presence) is to be good."""
        if self.bad_field is not None:
            return f.full_name != self.bad_field
        return self.draw(PERCENT) < self.p_good

    def pick(self, weights: dict[str, int]) -> str:
        """A weighted choice (hypothesis' sampled_from is uniform)."""
        n = self.draw(st.sampled_from(range(sum(weights.values()))))
        for name, weight in weights.items():
            if n < weight:
                return name
            n -= weight
        raise AssertionError

    def placeholder(self, raw: bytes) -> str:
        raw = raw.rjust(8, b"x")
        token = f"\x1e{len(self.raw):0{len(raw) - 2}d}\x1e"
        self.raw[token] = raw
        return token


@dataclass
class Request:
    message: Message
    payload: bytes  # what is sent: the message's bytes with the raw values put in, plus any unknown field
    raw: dict[str, bytes]
    unknown: bytes

    def describe(self) -> str:
        text = render(self.message, self.raw)
        return f"{text} + unknown field {self.unknown!r}" if self.unknown else text


@st.composite
def requests(draw, desc: Descriptor, world) -> Request:
    # Half the requests are all good but one field, the other half have each field good with a
    # probability of their own (from all good to all wild).
    fields = fields_of(desc)
    one_bad = draw(st.booleans()) and bool(fields)
    d = Draft(draw, world, p_good=draw(st.sampled_from([100, 95, 85, 60, 20, 0])),
              bad_field=draw(st.sampled_from(fields)) if one_bad else None,
              invalid_utf8=draw(st.integers(0, 3)) == 0)
    message = message_factory.GetMessageClass(desc)()
    fill(d, message, 0)
    payload = message.SerializeToString()
    for token, raw in d.raw.items():
        payload = payload.replace(token.encode(), raw)
    unknown = _unknown_field(d) if d.pick({"no": 30, "yes": 1}) == "yes" else b""
    return Request(message, payload + unknown, d.raw, unknown)


@functools.cache
def fields_of(desc: Descriptor, depth: int = 0) -> list[str]:
    """Every field of a message and of the messages in it (a timestamp counts as one field)."""
    names = []
    for f in desc.fields:
        names.append(f.full_name)
        if f.message_type is not None and depth < MAX_DEPTH and f.message_type.full_name not in WELL_KNOWN:
            names += fields_of(f.message_type, depth + 1)
    return names


def fill(d: Draft, message: Message, depth: int) -> None:
    desc = message.DESCRIPTOR
    for f in desc.fields:
        if f.message_type is not None and f.message_type.GetOptions().map_entry:
            _fill_map(d, f, getattr(message, f.name), depth)
        elif f.is_repeated:
            _fill_repeated(d, desc, f, getattr(message, f.name), depth)
        elif f.message_type is not None:
            # A message is set unless the request is wild and this field came out bad.
            if depth < MAX_DEPTH and (d.good(f) or d.draw(st.booleans())):
                sub = getattr(message, f.name)
                sub.SetInParent()
                _fill_message(d, f, sub, depth + 1)
        else:
            setattr(message, f.name, scalar(d, desc, f))


def _fill_message(d: Draft, f: FieldDescriptor, message: Message, depth: int) -> None:
    name = message.DESCRIPTOR.full_name
    if name == "google.protobuf.Timestamp":
        message.seconds, message.nanos = _timestamp(d, f)
    elif name == "google.protobuf.Duration":
        message.seconds, message.nanos = _duration(d, f)
    else:
        fill(d, message, depth)


def _count(d: Draft, f: FieldDescriptor, good: tuple[int, ...] = (1, 2, 3)) -> int:
    if d.good(f):
        return d.draw(st.sampled_from(good))
    kind = d.pick({"empty": 3, "one": 3, "few": 4, "many": 1})
    if kind == "few":
        return d.draw(st.integers(2, 5))
    return d.draw(st.sampled_from(MANY)) if kind == "many" else int(kind == "one")


def _fill_repeated(d: Draft, desc: Descriptor, f: FieldDescriptor, container, depth: int) -> None:
    n = _count(d, f)
    drawn = min(n, 5)  # more than a few items repeat the drawn ones (drawing 1000 would overrun)
    if f.message_type is not None:
        if depth >= MAX_DEPTH:
            return
        items = []
        for _ in range(drawn):
            item = message_factory.GetMessageClass(f.message_type)()
            _fill_message(d, f, item, depth + 1)
            items.append(item)
        if items:
            n = min(n, max(1, (5 << 20) // max(1, max(i.ByteSize() for i in items))))
            container.extend(items[i % drawn] for i in range(n))
        return
    items = [scalar(d, desc, f) for _ in range(drawn)]
    if n > drawn and f.type in (F.TYPE_STRING, F.TYPE_BYTES):
        items = [v[:200] for v in items]  # a thousand 1 MiB strings would only measure the network
    container.extend(_distinct(items[i % drawn], i) if i >= drawn else items[i] for i in range(n))


def _distinct(value, i: int):
    """The i-th copy of a drawn item; strings get a suffix so a long list is not one value repeated."""
    return f"{value}-{i}" if isinstance(value, str) else value


def _fill_map(d: Draft, f: FieldDescriptor, container, depth: int) -> None:
    entry = f.message_type
    key_field, value_field = entry.fields_by_name["key"], entry.fields_by_name["value"]
    n = _count(d, f, good=(0, 0, 1, 2))  # maps are often optional (corrections only for a CORRECTION)
    drawn = []
    for _ in range(min(n, 5)):
        if value_field.message_type is None:
            value = scalar(d, entry, value_field)
        else:
            value = message_factory.GetMessageClass(value_field.message_type)()
            _fill_message(d, value_field, value, depth + 1)
        drawn.append((scalar(d, entry, key_field), value))
    for i in range(n):
        key, value = drawn[i % len(drawn)]
        if i >= len(drawn):  # a long map: the drawn entries again under distinct keys
            if not isinstance(key, str):
                break
            key = _distinct(key[:50], i)
            value = value[:200] if isinstance(value, str | bytes) else value
        if isinstance(value, Message):
            container[key].CopyFrom(value)
        else:
            container[key] = value


def scalar(d: Draft, desc: Descriptor, f: FieldDescriptor):
    good = d.good(f)
    known = d.world.known(desc, f)
    t = f.type
    if t == F.TYPE_STRING:
        return _string(d, known, good)
    if t == F.TYPE_BYTES:
        return _bytes(d, known, good)
    if t == F.TYPE_BOOL:
        return d.draw(st.booleans())
    if t == F.TYPE_ENUM:
        values = [v.number for v in f.enum_type.values]
        if good:
            return d.draw(_or(known, st.sampled_from([v for v in values if v] or values)))
        return d.draw(st.sampled_from(values + ENUM_UNKNOWN))
    if t in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
        if good:
            return d.draw(_or(known, st.floats(0.0, 1.0)))
        width = 32 if t == F.TYPE_FLOAT else 64
        return d.draw(st.one_of(st.sampled_from(FLOAT_EDGES), st.floats(width=width)))
    lo, hi = INT_RANGES[t]
    if good:
        return d.draw(_or(known, st.integers(max(lo, 0), 100)))
    kind = d.pick({"limit": 3, "edge": 2, "random": 2, "near": 1})
    if kind in ("limit", "edge"):
        return d.draw(st.sampled_from([v for v in (INT_LIMITS if kind == "limit" else INT_EDGES) if lo <= v <= hi]))
    if kind == "random":
        return d.draw(st.integers(lo, hi))
    near = d.draw(_or(known, st.integers(0, 100))) + d.draw(st.sampled_from([-1, 1]))
    return min(max(near, lo), hi)


def _string(d: Draft, known, good: bool) -> str:
    base = d.draw(_or(known, IDENTIFIER))
    if good:
        return base
    kind = d.pick({"edge": 4, "text": 3, "near": 4, "identifier": 2, "long": 1,
                   "invalid-utf8": 2 * d.invalid_utf8})
    if kind == "edge":
        return d.draw(st.sampled_from(STRING_EDGES))
    if kind == "text":  # any code point but surrogates: controls, NUL, CJK, emoji, RTL marks
        return d.draw(st.text(max_size=60))
    if kind == "near":
        return d.draw(st.sampled_from(NEAR))(base)
    if kind == "identifier":
        return d.draw(IDENTIFIER)
    if kind == "invalid-utf8":
        prefix = base.encode() if d.draw(st.booleans()) else b""
        return d.placeholder(prefix + d.draw(st.sampled_from(INVALID_UTF8)))
    length = d.draw(st.sampled_from(LONG_LENGTHS))
    return (base + "x" * length)[:length]


def _bytes(d: Draft, known, good: bool) -> bytes:
    base = d.draw(_or(known, st.binary(min_size=1, max_size=64)))
    if good:
        return base
    kind = d.pick({"empty": 2, "random": 3, "near": 3, "big": 1})
    if kind == "empty":
        return b""
    if kind == "random":
        return d.draw(st.binary(max_size=300))
    if kind == "near":  # truncated, one bit flipped, or extended
        i = d.draw(st.integers(0, max(0, len(base) - 1)))
        flipped = base[:i] + bytes([base[i] ^ 1]) + base[i + 1:] if base else b"\x01"
        return d.draw(st.sampled_from([base[:-1], base[: len(base) // 2], flipped, base + b"\x00", base * 2]))
    size = d.draw(st.sampled_from(BIG_BYTES))
    return (bytes(range(256)) * (size // 256 + 1))[:size]


def _timestamp(d: Draft, f: FieldDescriptor) -> tuple[int, int]:
    if d.good(f):
        recent = int(time.time()) + d.draw(st.integers(-30 * 86400, 30 * 86400))
        return recent, d.draw(st.integers(0, 999_999_999))
    seconds = d.draw(st.one_of(st.sampled_from(TS_SECONDS), st.integers(-2**63, 2**63 - 1)))
    return seconds, d.draw(st.one_of(st.sampled_from(NANOS), st.integers(-2**31, 2**31 - 1)))


def _duration(d: Draft, f: FieldDescriptor) -> tuple[int, int]:
    if d.good(f):
        return d.draw(st.integers(1, 10 * 365 * 86400)), 0
    seconds = d.draw(st.one_of(st.sampled_from(DURATION_SECONDS), st.integers(-2**63, 2**63 - 1)))
    return seconds, d.draw(st.one_of(st.sampled_from(NANOS + [-999_999_999]), st.integers(-2**31, 2**31 - 1)))


def _or(known, fallback):
    return fallback if known is None else known


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _unknown_field(d: Draft) -> bytes:
    """A field the schema does not have (valid wire format: must be ignored)."""
    number = d.draw(st.sampled_from([99, 1000, 2**29 - 1]))
    if d.draw(st.booleans()):
        return _varint(number << 3) + _varint(d.draw(st.integers(0, 2**64 - 1)))
    value = d.draw(st.binary(max_size=40))
    return _varint(number << 3 | 2) + _varint(len(value)) + value


def render(message: Message, raw: dict[str, bytes]) -> str:
    """A short, readable form of a request: long values cut, invalid UTF-8 shown where it goes."""
    parts = []
    for f, value in message.ListFields():
        if f.message_type is not None and f.message_type.GetOptions().map_entry:
            items = [f"{_one(None, k, raw)}: {_one(None, v, raw)}" for k, v in list(value.items())[:3]]
            text = "{" + ", ".join(items) + (f", ... {len(value)} entries" if len(value) > 3 else "") + "}"
        elif f.is_repeated:
            items = [_one(f, v, raw) for v in list(value)[:3]]
            text = "[" + ", ".join(items) + (f", ... {len(value)} items" if len(value) > 3 else "") + "]"
        else:
            text = _one(f, value, raw)
        parts.append(f"{f.name}={text}")
    return "{" + ", ".join(parts) + "}"


def _one(f: FieldDescriptor | None, value, raw: dict[str, bytes]) -> str:
    if isinstance(value, Message):
        return render(value, raw)
    if f is not None and f.enum_type is not None:
        known = f.enum_type.values_by_number.get(value)
        return known.name if known else str(value)
    if isinstance(value, str):
        for token, bad in raw.items():
            if token in value:
                return f"<invalid utf-8 {bad!r}>"
    if isinstance(value, str | bytes) and len(value) > 60:
        return f"{value[:40]!r}...({len(value)} {'chars' if isinstance(value, str) else 'bytes'})"
    return repr(value)
