-- redun's call graph and caches. Hashes are 40 lower-case hex characters computed by clients
-- (values, tasks, arguments) or by the server (call nodes). Every row is immutable except the
-- evaluation cache (upserted), jobs (ended), executions (heartbeat) and handles (invalidated).
CREATE TABLE cache_values (
    namespace_id BIGINT NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
    value_hash   TEXT NOT NULL CHECK (value_hash ~ '^[0-9a-f]{40}$'),
    type_name    TEXT NOT NULL,
    format       TEXT NOT NULL,
    -- Small values inline; large ones in the blob store (digest below), never both.
    data         BYTEA,
    blob_hash    TEXT,
    blob_size    BIGINT,
    size         BIGINT NOT NULL,
    create_time  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (namespace_id, value_hash),
    CHECK ((data IS NULL) <> (blob_hash IS NULL))
);

CREATE TABLE cache_call_nodes (
    namespace_id BIGINT NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
    call_hash    TEXT NOT NULL CHECK (call_hash ~ '^[0-9a-f]{40}$'),
    task_name    TEXT NOT NULL,
    task_hash    TEXT NOT NULL,
    args_hash    TEXT NOT NULL,
    value_hash   TEXT NOT NULL,
    -- clock_timestamp: several call nodes written by one transaction still order by creation.
    create_time  TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (namespace_id, call_hash)
);
-- ULTIMATE cache check: newest call node of a task + arguments.
CREATE INDEX cache_call_nodes_task_args ON cache_call_nodes (namespace_id, task_hash, args_hash, create_time DESC);
-- explain_cache_miss: same arguments under the same task name.
CREATE INDEX cache_call_nodes_args ON cache_call_nodes (namespace_id, args_hash, task_name, create_time DESC);

CREATE TABLE cache_call_edges (
    namespace_id BIGINT NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
    parent_hash  TEXT NOT NULL,
    child_hash   TEXT NOT NULL,
    call_order   INT NOT NULL,
    PRIMARY KEY (namespace_id, parent_hash, child_hash)
);

CREATE TABLE cache_call_subtree_tasks (
    namespace_id BIGINT NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
    call_hash    TEXT NOT NULL,
    task_hash    TEXT NOT NULL,
    PRIMARY KEY (namespace_id, call_hash, task_hash)
);

CREATE TABLE cache_arguments (
    namespace_id BIGINT NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
    arg_hash     TEXT NOT NULL,
    call_hash    TEXT NOT NULL,
    value_hash   TEXT NOT NULL,
    arg_position INT,
    arg_key      TEXT,
    PRIMARY KEY (namespace_id, arg_hash)
);
CREATE INDEX cache_arguments_call ON cache_arguments (namespace_id, call_hash);

CREATE TABLE cache_argument_results (
    namespace_id     BIGINT NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
    arg_hash         TEXT NOT NULL,
    result_call_hash TEXT NOT NULL,
    PRIMARY KEY (namespace_id, arg_hash, result_call_hash)
);

CREATE TABLE cache_evaluations (
    namespace_id BIGINT NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
    eval_hash    TEXT NOT NULL CHECK (eval_hash ~ '^[0-9a-f]{40}$'),
    task_hash    TEXT NOT NULL,
    args_hash    TEXT NOT NULL,
    value_hash   TEXT NOT NULL,
    PRIMARY KEY (namespace_id, eval_hash)
);

CREATE TABLE cache_executions (
    namespace_id BIGINT NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
    id           TEXT NOT NULL,
    args         JSONB NOT NULL DEFAULT '[]'::jsonb,
    job_id       TEXT,
    create_time  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_time TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (namespace_id, id)
);

CREATE TABLE cache_jobs (
    namespace_id BIGINT NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
    id           TEXT NOT NULL,
    task_hash    TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    parent_id    TEXT,
    call_hash    TEXT,
    cached       BOOLEAN NOT NULL DEFAULT false,
    status       TEXT,
    start_time   TIMESTAMPTZ NOT NULL,
    end_time     TIMESTAMPTZ,
    PRIMARY KEY (namespace_id, id)
);
-- CSE check: jobs of one execution by task, newest first.
CREATE INDEX cache_jobs_execution_task ON cache_jobs (namespace_id, execution_id, task_hash, start_time DESC);
CREATE INDEX cache_jobs_parent ON cache_jobs (namespace_id, parent_id) WHERE parent_id IS NOT NULL;

CREATE TABLE cache_handles (
    namespace_id BIGINT NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
    hash         TEXT NOT NULL,
    fullname     TEXT NOT NULL,
    key          TEXT NOT NULL,
    value_hash   TEXT NOT NULL,
    is_valid     BOOLEAN NOT NULL DEFAULT true,
    PRIMARY KEY (namespace_id, hash)
);
CREATE INDEX cache_handles_fullname ON cache_handles (namespace_id, fullname) WHERE is_valid;

CREATE TABLE cache_handle_edges (
    namespace_id BIGINT NOT NULL REFERENCES namespaces(id) ON DELETE CASCADE,
    parent_hash  TEXT NOT NULL,
    child_hash   TEXT NOT NULL,
    PRIMARY KEY (namespace_id, parent_hash, child_hash)
);
