-- Bearer tokens. Only a SHA-256 of the secret part is stored; the token itself is shown once.
-- A token is scoped to one namespace (deleting the namespace deletes its tokens) or, when
-- namespace_id is NULL, to every namespace: the operators' tokens that create namespaces.
CREATE TABLE auth_tokens (
    id           TEXT PRIMARY KEY CHECK (id ~ '^[0-9a-f]{16}$'),
    namespace_id BIGINT REFERENCES namespaces(id) ON DELETE CASCADE,
    role         TEXT NOT NULL CHECK (role IN ('reader', 'writer', 'admin')),
    secret_hash  TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    create_time  TIMESTAMPTZ NOT NULL DEFAULT now(),
    expire_time  TIMESTAMPTZ,
    revoke_time  TIMESTAMPTZ
);

CREATE INDEX auth_tokens_namespace ON auth_tokens (namespace_id, id);
