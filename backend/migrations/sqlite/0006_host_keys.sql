-- SSH nodes: the pinned host key fingerprint, and the one presented instead while the node
-- is `key_mismatch`.
ALTER TABLE nodes ADD COLUMN host_key TEXT;
ALTER TABLE nodes ADD COLUMN presented_host_key TEXT;
