-- chariots' op store: ops, versions (numbered against the op's latest version), validated links
-- between a downstream op and upstream versions, op bytes in the blob store, pipelines.
CREATE TABLE opstore_ops (
    namespace_id BIGINT NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
    id           BIGINT GENERATED ALWAYS AS IDENTITY,
    name         TEXT NOT NULL,
    PRIMARY KEY (namespace_id, id),
    UNIQUE (namespace_id, name)
);

CREATE TABLE opstore_versions (
    namespace_id  BIGINT NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
    id            BIGINT GENERATED ALWAYS AS IDENTITY,
    op_id         BIGINT NOT NULL,
    major_hash    TEXT NOT NULL,
    minor_hash    TEXT NOT NULL,
    patch_hash    TEXT NOT NULL,
    creation_time DOUBLE PRECISION NOT NULL,
    major_number  INT NOT NULL,
    minor_number  INT NOT NULL,
    patch_number  INT NOT NULL,
    bytes_hash    TEXT,
    bytes_size    BIGINT,
    PRIMARY KEY (namespace_id, id),
    UNIQUE (namespace_id, op_id, major_hash, minor_hash, patch_hash),
    FOREIGN KEY (namespace_id, op_id) REFERENCES opstore_ops (namespace_id, id) ON DELETE CASCADE
);
CREATE INDEX opstore_versions_latest ON opstore_versions (namespace_id, op_id, creation_time DESC, id DESC);

CREATE TABLE opstore_links (
    namespace_id   BIGINT NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
    downstream_id  BIGINT NOT NULL,
    upstream_id    BIGINT NOT NULL,
    version_id     BIGINT NOT NULL,
    PRIMARY KEY (namespace_id, downstream_id, upstream_id, version_id)
);

CREATE TABLE opstore_pipelines (
    namespace_id BIGINT NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    last_op_id   BIGINT NOT NULL,
    PRIMARY KEY (namespace_id, name)
);
