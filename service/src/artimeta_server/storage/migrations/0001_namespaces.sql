-- Namespaces: the unit of tenancy. Ids come from an identity column and are never reused, so
-- caches and blob keys scoped by id cannot leak into a namespace re-created under the same name.
CREATE TABLE namespaces (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$'),
    description TEXT NOT NULL DEFAULT '',
    labels      JSONB NOT NULL DEFAULT '{}'::jsonb,
    create_time TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- A deleted namespace's blobs are removed after its rows; until that has succeeded its id stays
-- here, so a failure of the blob store midway leaves work to finish, never unreachable bytes.
CREATE TABLE namespace_tombstones (
    id          BIGINT PRIMARY KEY,
    name        TEXT NOT NULL,
    delete_time TIMESTAMPTZ NOT NULL DEFAULT now()
);
