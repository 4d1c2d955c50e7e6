"""A time in an answer is the Timestamp protobuf's own FromDatetime makes of it, written faster: for
times with and without a zone, before and after 1970, to the microsecond, at the ends of the range."""

import random
from datetime import UTC, datetime, timedelta, timezone

from google.protobuf import timestamp_pb2

from services.common.timestamps import to_timestamp


def by_the_library(at: datetime) -> timestamp_pb2.Timestamp:
    out = timestamp_pb2.Timestamp()
    out.FromDatetime(at)
    return out


def test_a_time_is_written_as_protobuf_writes_it():
    rng = random.Random(3339)
    first, last = datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59, 999999)
    naive = [first, last, datetime(1970, 1, 1), datetime(1969, 12, 31, 23, 59, 59, 999999)] + [
        first + timedelta(microseconds=rng.randrange(int((last - first) / timedelta(microseconds=1))))
        for _ in range(5000)]
    zones = [UTC, timezone(timedelta(hours=8)), timezone(-timedelta(hours=5, minutes=30))]
    times = naive + [t.replace(tzinfo=rng.choice(zones)) for t in naive[4:] if datetime(2, 1, 1) < t < datetime(9998, 1, 1)]

    assert all(to_timestamp(at) == by_the_library(at) for at in times)
    assert to_timestamp(None) is None
