"""artimeta server: a gRPC metadata service for data and ML pipelines."""

import os

# The server forks only to exec (Postgres, S3 servers, workers), often from threads while gRPC is
# busy: gRPC's fork handlers then run in a process that is about to exec, and can abort the
# parent or break the child's epoll. Read by gRPC when it is first imported.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

__version__ = "0.1.0"
