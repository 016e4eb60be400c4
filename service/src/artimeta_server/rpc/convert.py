"""Conversions between domain records and artimeta.v1 messages shared by the servicers."""

from __future__ import annotations

from datetime import datetime, timezone

from google.protobuf import timestamp_pb2

from artimeta.v1 import namespace_pb2
from artimeta_server.domain.models import Namespace


def timestamp(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(value)
    return ts


def namespace(ns: Namespace) -> namespace_pb2.Namespace:
    return namespace_pb2.Namespace(
        name=ns.name, description=ns.description, labels=ns.labels, create_time=timestamp(ns.create_time)
    )


UTC = timezone.utc  # noqa: UP017 - the name other modules import
