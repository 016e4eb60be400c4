"""Records (manifests of blobs) in Postgres."""
