-- What a mutation sent with a request_id answered (its reply, or its error), so that a retry of
-- the same logical call gets the same answer instead of doing the work again (AIP-155). The row
-- is written in the mutation's own transaction. The key starts with the namespace (Citus
-- distributes by it); namespace 0 holds NamespaceService's own mutations. No foreign key: the
-- rows of a deleted namespace expire with the others (ids are never reused).
CREATE TABLE request_ledger (
    namespace_id BIGINT NOT NULL,
    method TEXT NOT NULL,
    request_id UUID NOT NULL,
    body_hash BYTEA NOT NULL,
    reply BYTEA,
    error_kind TEXT,
    error_reason TEXT,
    error_message TEXT,
    error_metadata JSONB,
    create_time TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (namespace_id, method, request_id),
    CHECK ((reply IS NULL) <> (error_kind IS NULL))
);
-- gc forgets rows older than the retention window.
CREATE INDEX request_ledger_age ON request_ledger (create_time);
