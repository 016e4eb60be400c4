"""RecordService: record directories kept as manifests of blobs (machinable's storage)."""
