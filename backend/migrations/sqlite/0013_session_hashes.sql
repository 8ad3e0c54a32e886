-- Sessions are kept by the SHA-256 of their id (the cookie's secret), not the id itself, and
-- say whose they are so a password change can end the user's other sessions. Sessions stored
-- the old way cannot be told apart from hashes: they end, and everyone logs in again once.
DELETE FROM sessions;
ALTER TABLE sessions ADD COLUMN user_id TEXT;
CREATE INDEX sessions_user ON sessions (user_id);
