"""A real local stack (Postgres + an S3 server) started on loopback for `make run` and the tests.

Not used in production: there the server is pointed at an existing Postgres and S3 store.
"""
