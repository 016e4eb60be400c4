"""chariots' op store: op versions numbered against the op's latest version, validated links,
pipelines, op bytes in the blob store."""
