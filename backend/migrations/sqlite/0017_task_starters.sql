-- Who asked for each task. Nodes start tasks and know no users: the backend writes a row here
-- when a node answers a request with a task, before following it. Neither key is a foreign
-- key: the task's own row may arrive after this one (from the node's event), and a deleted
-- user's name stays on the tasks they started, as in the audit log.
CREATE TABLE task_starters (
    task_id     TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    username    TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX task_starters_created ON task_starters (created_at);
