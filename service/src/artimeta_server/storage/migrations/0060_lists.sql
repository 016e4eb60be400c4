-- List views: a namespace's executions newest first; its ops by name in byte order (the same in
-- every database locale, and a name prefix is one index range); each op's latest version by number.
CREATE INDEX cache_executions_newest ON cache_executions (namespace_id, create_time DESC, id DESC);
CREATE INDEX opstore_ops_name_bytes ON opstore_ops (namespace_id, (name COLLATE "C"));
CREATE INDEX opstore_versions_numbers
    ON opstore_versions (namespace_id, op_id, major_number DESC, minor_number DESC, patch_number DESC);
