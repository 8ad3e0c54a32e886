-- Corral's first schema (SQLite). Keep in step with ../postgres/0001_init.sql.
-- Ids are UUID text, times RFC 3339 text, flags 0/1 integers: the same in both databases.

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL
);

CREATE TABLE users (
    id              TEXT PRIMARY KEY,
    username        TEXT NOT NULL UNIQUE,
    password_hash   TEXT NOT NULL,
    is_admin        BIGINT NOT NULL DEFAULT 0,
    disabled        BIGINT NOT NULL DEFAULT 0,
    created_at      TEXT NOT NULL
);

CREATE TABLE memberships (
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    role        TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'owner')),
    PRIMARY KEY (user_id, tenant_id)
);

CREATE TABLE nodes (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    address         TEXT NOT NULL,
    status          TEXT NOT NULL,
    driver          TEXT,
    capabilities    TEXT NOT NULL DEFAULT '[]',
    host            TEXT,
    last_error      TEXT,
    last_seen_at    TEXT,
    created_at      TEXT NOT NULL
);

CREATE TABLE machines (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    tenant_id   TEXT REFERENCES tenants(id),
    node_id     TEXT NOT NULL REFERENCES nodes(id),
    vcpus       BIGINT NOT NULL,
    memory_mib  BIGINT NOT NULL,
    disk_gib    BIGINT NOT NULL,
    state       TEXT NOT NULL,
    managed     BIGINT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE UNIQUE INDEX machines_tenant_name ON machines (tenant_id, name) WHERE tenant_id IS NOT NULL;
CREATE INDEX machines_node ON machines (node_id);

CREATE TABLE sessions (
    id          TEXT PRIMARY KEY,
    data        TEXT NOT NULL,
    expiry_date BIGINT NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expiry_date);
