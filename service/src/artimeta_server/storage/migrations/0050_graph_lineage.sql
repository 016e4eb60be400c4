-- The lineage a writer recorded with a graph (artifacts, producers, edges), as one JSON document
-- per graph: it is written once, read whole, and never changes. It goes when its graph goes.
CREATE TABLE arti_graph_lineage (
    namespace_id BIGINT NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    fingerprint  BIGINT NOT NULL,
    lineage      JSONB NOT NULL,
    PRIMARY KEY (namespace_id, name, fingerprint),
    FOREIGN KEY (namespace_id, name, fingerprint)
        REFERENCES arti_graphs (namespace_id, name, fingerprint) ON DELETE CASCADE
);
