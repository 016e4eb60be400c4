"""BlobService: content-addressed blobs, verified uploads, presigned transfers and keyed objects."""
