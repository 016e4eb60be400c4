-- The index of committed blobs: what FindMissingBlobs answers from without asking S3, and the
-- last time each blob was handed out as present, so garbage collection (whose grace period is
-- longer than the touch interval) never deletes a blob a client was just told it can use.
-- Blobs written straight to S3 by other services are adopted here the first time they are seen.
CREATE TABLE blobs (
    namespace_id BIGINT NOT NULL REFERENCES namespaces (id) ON DELETE CASCADE,
    hash         TEXT NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
    size         BIGINT NOT NULL CHECK (size >= 0),
    create_time  TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_used    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (namespace_id, hash, size)
);

-- Uploads in flight: streaming multipart uploads (s3_upload_id set) and presigned PUTs to a
-- staging key (s3_upload_id NULL). A crashed server leaves its row; gc aborts the S3 upload (or
-- deletes the staging object) once expire_time has passed, and never collects a digest listed here.
CREATE TABLE blob_uploads (
    namespace_id BIGINT NOT NULL REFERENCES namespaces (id) ON DELETE CASCADE,
    upload_id    UUID NOT NULL,
    hash         TEXT CHECK (hash ~ '^[0-9a-f]{64}$'),
    size         BIGINT CHECK (size >= 0),
    object_key   TEXT NOT NULL,
    s3_upload_id TEXT,
    start_time   TIMESTAMPTZ NOT NULL DEFAULT now(),
    expire_time  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (namespace_id, upload_id)
);
CREATE INDEX blob_uploads_expire ON blob_uploads (expire_time);

-- Keyed objects: a user key pointing at a blob (overwritable); identical bytes are stored once.
CREATE TABLE blob_keys (
    namespace_id BIGINT NOT NULL REFERENCES namespaces (id) ON DELETE CASCADE,
    key          TEXT NOT NULL CHECK (length(key) BETWEEN 1 AND 1024),
    hash         TEXT NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
    size         BIGINT NOT NULL CHECK (size >= 0),
    update_time  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (namespace_id, key)
);
-- gc and DeleteBlob ask "does any key point at this digest?"
CREATE INDEX blob_keys_digest ON blob_keys (namespace_id, hash);
