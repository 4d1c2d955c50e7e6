"""datetime to protobuf Timestamp, for every servicer's responses (None stays unset)."""

from datetime import datetime

from google.protobuf import timestamp_pb2


def to_timestamp(at: datetime | None) -> timestamp_pb2.Timestamp | None:
    if at is None:
        return None
    out = timestamp_pb2.Timestamp()
    out.FromDatetime(at)
    return out
