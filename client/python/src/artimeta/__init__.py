"""artimeta: Python client for the artimeta metadata service.

from artimeta import Client
with Client("127.0.0.1:50051") as client:
    client.create_namespace("team-a")
"""

from artimeta._channel import RetryPolicy
from artimeta.client import AsyncClient, Client
from artimeta.errors import (
    Aborted,
    AlreadyExists,
    ArtimetaError,
    Cancelled,
    DataLoss,
    DeadlineExceeded,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
    Unimplemented,
)

__version__ = "0.1.0"

__all__ = [
    "Aborted",
    "AlreadyExists",
    "ArtimetaError",
    "AsyncClient",
    "Cancelled",
    "Client",
    "DataLoss",
    "DeadlineExceeded",
    "FailedPrecondition",
    "Internal",
    "InvalidArgument",
    "NotFound",
    "PermissionDenied",
    "ResourceExhausted",
    "RetryPolicy",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
]
