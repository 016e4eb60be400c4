"""artimeta: Python client for the artimeta metadata service.

from artimeta import Client
with Client("127.0.0.1:50051") as client:
    ns = client.namespace("team-a").ensure()
    ns.blobs.put_object("models/latest", b"...")
    print(ns.graphs.list_graphs().graphs)

`client.namespace(name)` gives every namespaced service as typed methods (artimeta.handles).
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
from artimeta.handles import AsyncNamespaceHandle, NamespaceHandle

__version__ = "0.1.0"

__all__ = [
    "Aborted",
    "AlreadyExists",
    "ArtimetaError",
    "AsyncClient",
    "AsyncNamespaceHandle",
    "Cancelled",
    "Client",
    "DataLoss",
    "DeadlineExceeded",
    "FailedPrecondition",
    "Internal",
    "InvalidArgument",
    "NamespaceHandle",
    "NotFound",
    "PermissionDenied",
    "ResourceExhausted",
    "RetryPolicy",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
]
