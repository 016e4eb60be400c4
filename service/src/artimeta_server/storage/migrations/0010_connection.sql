-- arti's Connection: graphs, snapshots, snapshot tags (with history) and artifact partitions.
-- Documents are inline (document) or in the blob store (document_hash/size, registered in
-- storage/blob_refs.py); exactly one of the two is set.

CREATE TABLE arti_graphs (
    namespace_id    BIGINT NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    fingerprint     BIGINT NOT NULL,
    document        BYTEA,
    document_hash   TEXT,
    document_size   BIGINT NOT NULL,
    document_format TEXT NOT NULL,
    code_refs       TEXT[] NOT NULL,
    create_time     TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (namespace_id, name, fingerprint),
    CHECK ((document IS NULL) <> (document_hash IS NULL))
);

CREATE TABLE arti_snapshots (
    namespace_id      BIGINT NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
    name              TEXT NOT NULL,
    fingerprint       BIGINT NOT NULL,
    snapshot_id       BIGINT NOT NULL,
    graph_fingerprint BIGINT NOT NULL,
    -- Orders ListSnapshots newest first; ids are never reused.
    seq               BIGINT GENERATED ALWAYS AS IDENTITY,
    document          BYTEA,
    document_hash     TEXT,
    document_size     BIGINT NOT NULL,
    document_format   TEXT NOT NULL,
    code_refs         TEXT[] NOT NULL,
    create_time       TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (namespace_id, name, fingerprint),
    CHECK ((document IS NULL) <> (document_hash IS NULL))
);
CREATE INDEX arti_snapshots_by_seq ON arti_snapshots (namespace_id, name, seq);

-- A tag can only point at a stored snapshot (the foreign key is the check).
CREATE TABLE arti_snapshot_tags (
    namespace_id         BIGINT NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
    name                 TEXT NOT NULL,
    tag                  TEXT NOT NULL,
    snapshot_fingerprint BIGINT NOT NULL,
    actor                TEXT NOT NULL DEFAULT '',
    update_time          TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (namespace_id, name, tag),
    FOREIGN KEY (namespace_id, name, snapshot_fingerprint)
        REFERENCES arti_snapshots (namespace_id, name, fingerprint) ON DELETE CASCADE
);

CREATE TABLE arti_snapshot_tag_moves (
    namespace_id              BIGINT NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
    seq                       BIGINT GENERATED ALWAYS AS IDENTITY,
    name                      TEXT NOT NULL,
    tag                       TEXT NOT NULL,
    from_snapshot_fingerprint BIGINT,
    to_snapshot_fingerprint   BIGINT NOT NULL,
    actor                     TEXT NOT NULL DEFAULT '',
    move_time                 TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (namespace_id, seq)
);
CREATE INDEX arti_snapshot_tag_moves_by_tag ON arti_snapshot_tag_moves (namespace_id, name, tag, seq);

-- Every partition known for a storage spec, across snapshots. `ident` is a 16-byte hash of the
-- partition's canonical encoding (its full value identifies it), `keys` the canonical encoding
-- of its composite key. One unique index serves both the set-union insert (ON CONFLICT DO
-- NOTHING) and the input-fingerprint filter (storage, input fingerprint, keys), so a bulk write
-- maintains a single index. `body` is the canonical encoding itself, NULL when it is large and
-- kept in the blob store (body_hash/body_size).
CREATE TABLE arti_storage_partitions (
    namespace_id        BIGINT NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
    storage_fingerprint BIGINT NOT NULL,
    input_fingerprint   BIGINT,
    keys                BYTEA NOT NULL,
    ident               BYTEA NOT NULL,
    body                BYTEA,
    body_hash           TEXT,
    body_size           BIGINT NOT NULL,
    CHECK ((body IS NULL) <> (body_hash IS NULL))
);
CREATE UNIQUE INDEX arti_storage_partitions_key ON arti_storage_partitions
    (namespace_id, storage_fingerprint, input_fingerprint, keys, ident) NULLS NOT DISTINCT;

-- Partitions linked to an artifact of one snapshot. Unknown snapshots simply have no rows.
CREATE TABLE arti_snapshot_partitions (
    namespace_id         BIGINT NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
    name                 TEXT NOT NULL,
    snapshot_fingerprint BIGINT NOT NULL,
    artifact_key         TEXT NOT NULL,
    ident                BYTEA NOT NULL,
    body                 BYTEA,
    body_hash            TEXT,
    body_size            BIGINT NOT NULL,
    PRIMARY KEY (namespace_id, name, snapshot_fingerprint, artifact_key, ident),
    CHECK ((body IS NULL) <> (body_hash IS NULL))
);
