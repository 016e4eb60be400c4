-- Tags with redun's supersession model: immutable rows keyed by a content hash; superseding a
-- tag marks it not current and records an edit edge, so the whole history of a key stays readable.
CREATE TABLE tags (
    namespace_id BIGINT NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
    tag_hash     TEXT NOT NULL CHECK (tag_hash ~ '^[0-9a-f]{40}$'),
    -- Keyset order for search and history.
    seq          BIGINT GENERATED ALWAYS AS IDENTITY,
    entity_type  TEXT NOT NULL CHECK (entity_type IN ('Execution', 'Job', 'CallNode', 'Task', 'Value', 'Null')),
    entity_id    TEXT NOT NULL,
    key          TEXT NOT NULL,
    value        JSONB NOT NULL,
    -- The canonical JSON the hash was computed from (jsonb does not keep it).
    value_json   TEXT NOT NULL,
    is_current   BOOLEAN NOT NULL DEFAULT true,
    create_time  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (namespace_id, tag_hash)
);
CREATE INDEX tags_entity_current ON tags (namespace_id, entity_id, key) WHERE is_current;
CREATE INDEX tags_entity_key_history ON tags (namespace_id, entity_id, key, seq);
CREATE INDEX tags_key_current ON tags (namespace_id, key, seq) WHERE is_current;

CREATE TABLE tag_edits (
    namespace_id BIGINT NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
    parent_hash  TEXT NOT NULL,
    child_hash   TEXT NOT NULL,
    PRIMARY KEY (namespace_id, parent_hash, child_hash)
);
CREATE INDEX tag_edits_child ON tag_edits (namespace_id, child_hash);
