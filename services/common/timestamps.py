"""datetime to protobuf Timestamp (None stays unset) and seconds to Duration, for every servicer's
responses."""

from datetime import UTC, datetime, timedelta

from google.protobuf import duration_pb2, timestamp_pb2

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def to_timestamp(at: datetime | None) -> timestamp_pb2.Timestamp | None:
    """As Timestamp.FromDatetime sets it (a time without a zone is UTC), in about half its time: every
    answer with a time in it, CheckConsent's included, makes one."""
    if at is None:
        return None
    micros = (at - (_EPOCH if at.tzinfo is not None else _EPOCH.replace(tzinfo=None))) // _MICROSECOND
    seconds, micros = divmod(micros, 1_000_000)
    return timestamp_pb2.Timestamp(seconds=seconds, nanos=micros * 1000)


def to_duration(seconds: float) -> duration_pb2.Duration:
    out = duration_pb2.Duration()
    out.FromTimedelta(timedelta(seconds=seconds))
    return out
