-- Tasks mirrored from the nodes' event streams. `body` is the node's task as JSON; the
-- columns beside it are what lists filter and sort on.
CREATE TABLE tasks (
    id          TEXT PRIMARY KEY,
    node_id     TEXT NOT NULL REFERENCES nodes(id),
    kind        TEXT NOT NULL,
    machine_id  TEXT,
    state       TEXT NOT NULL,
    body        TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX tasks_started ON tasks (started_at);
CREATE INDEX tasks_node_state ON tasks (node_id, state);
