"""Blobs in S3 and the blob index, uploads in flight and keyed objects in Postgres."""
