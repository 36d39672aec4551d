"""Conversions every gRPC layer needs between Python values and well-known protobuf types."""

from __future__ import annotations

import datetime
from typing import overload

from google.protobuf import timestamp_pb2


@overload
def timestamp(value: datetime.datetime) -> timestamp_pb2.Timestamp: ...
@overload
def timestamp(value: None) -> None: ...
def timestamp(value: datetime.datetime | None) -> timestamp_pb2.Timestamp | None:
    """A protobuf Timestamp for an aware datetime; None (field left unset) for None."""
    if value is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp
