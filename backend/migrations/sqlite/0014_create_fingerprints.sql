-- What an idempotent create asked for (a SHA-256 of the request), so that a replay of its
-- Idempotency-Key is answered only when it is the very same request.
ALTER TABLE machines ADD COLUMN request_fingerprint TEXT;
