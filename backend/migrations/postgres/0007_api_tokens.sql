-- API tokens for scripts and the CLI: only a SHA-256 of the secret is kept.
CREATE TABLE api_tokens (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    secret_sha256 TEXT NOT NULL,
    read_only     BIGINT NOT NULL DEFAULT 0,
    expires_at    TEXT,
    created_at    TEXT NOT NULL,
    last_used_at  TEXT
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);
