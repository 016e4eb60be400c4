"""Use cases and models. Imports no gRPC, database or object-store driver and no generated code."""
