"""datetime to protobuf Timestamp (None stays unset) and seconds to Duration, for every servicer's
responses."""

from datetime import datetime, timedelta

from google.protobuf import duration_pb2, timestamp_pb2


def to_timestamp(at: datetime | None) -> timestamp_pb2.Timestamp | None:
    if at is None:
        return None
    out = timestamp_pb2.Timestamp()
    out.FromDatetime(at)
    return out


def to_duration(seconds: float) -> duration_pb2.Duration:
    out = duration_pb2.Duration()
    out.FromTimedelta(timedelta(seconds=seconds))
    return out
