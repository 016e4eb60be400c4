"""artimeta server: a gRPC metadata service for data and ML pipelines."""

__version__ = "0.1.0"
