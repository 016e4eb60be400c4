"""Conversions between domain records and artimeta.v1 messages shared by the servicers."""

from __future__ import annotations

from datetime import datetime, timezone

from google.protobuf import timestamp_pb2

from artimeta.v1 import consistency_pb2, namespace_pb2
from artimeta_server.domain.errors import InvalidArgument
from artimeta_server.domain.namespaces.models import Namespace
from artimeta_server.domain.reasons import Reason

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)  # noqa: UP017


def timestamp(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    # What Timestamp.FromDatetime computes (naive = UTC), at a quarter of its cost: list pages
    # convert several timestamps a row.
    if value is None:
        return None
    d = (value if value.tzinfo is not None else value.replace(tzinfo=_EPOCH.tzinfo)) - _EPOCH
    return timestamp_pb2.Timestamp(seconds=d.days * 86400 + d.seconds, nanos=d.microseconds * 1000)


def namespace(ns: Namespace) -> namespace_pb2.Namespace:
    return namespace_pb2.Namespace(
        name=ns.name, description=ns.description, labels=ns.labels, create_time=timestamp(ns.create_time)
    )


UTC = timezone.utc  # noqa: UP017 - the name other modules import


def strong(consistency: int) -> bool:
    """Whether a read asked for ReadConsistency STRONG; INVALID_ARGUMENT for a value not defined."""
    if consistency == consistency_pb2.READ_CONSISTENCY_STRONG:
        return True
    if consistency != consistency_pb2.READ_CONSISTENCY_UNSPECIFIED:
        raise InvalidArgument(
            f"consistency {consistency} is not a ReadConsistency",
            reason=Reason.INVALID_CONSISTENCY,
            metadata={"field": "consistency"},
        )
    return False
