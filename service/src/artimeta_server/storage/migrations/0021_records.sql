-- Record directories (machinable): a manifest of entries whose files are blobs.
CREATE TABLE records (
    namespace_id BIGINT NOT NULL REFERENCES namespaces (id) ON DELETE CASCADE,
    uuid         TEXT NOT NULL CHECK (length(uuid) BETWEEN 1 AND 128),
    metadata     JSONB NOT NULL DEFAULT '{}'::jsonb,
    file_count   BIGINT NOT NULL DEFAULT 0,
    total_size   BIGINT NOT NULL DEFAULT 0,
    create_time  TIMESTAMPTZ NOT NULL DEFAULT now(),
    update_time  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (namespace_id, uuid)
);
-- ListRecords by metadata: containment (@>) within a namespace.
CREATE INDEX records_metadata ON records USING gin (metadata jsonb_path_ops);

-- kind: 1 file, 2 directory, 3 symlink (RecordEntryKind).
CREATE TABLE record_entries (
    namespace_id BIGINT NOT NULL,
    uuid         TEXT NOT NULL,
    path         TEXT NOT NULL,
    kind         SMALLINT NOT NULL CHECK (kind IN (1, 2, 3)),
    mode         INTEGER NOT NULL DEFAULT 0,
    hash         TEXT CHECK (hash ~ '^[0-9a-f]{64}$'),
    size         BIGINT CHECK (size >= 0),
    mtime_ns     BIGINT NOT NULL DEFAULT 0,
    link_target  TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (namespace_id, uuid, path),
    FOREIGN KEY (namespace_id, uuid) REFERENCES records (namespace_id, uuid) ON DELETE CASCADE,
    CHECK ((kind = 1) = (hash IS NOT NULL AND size IS NOT NULL))
);
CREATE INDEX record_entries_digest ON record_entries (namespace_id, hash) WHERE hash IS NOT NULL;

CREATE TABLE record_relations (
    namespace_id BIGINT NOT NULL,
    uuid         TEXT NOT NULL,
    related_uuid TEXT NOT NULL,
    name         TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (namespace_id, uuid, related_uuid, name),
    FOREIGN KEY (namespace_id, uuid) REFERENCES records (namespace_id, uuid) ON DELETE CASCADE
);
CREATE INDEX record_relations_reverse ON record_relations (namespace_id, related_uuid);
