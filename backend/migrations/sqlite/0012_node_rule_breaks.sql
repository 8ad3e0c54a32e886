-- Reports of a node's that broke the rules (another node's machine, a malformed report) are
-- not applied; they are counted here, with the last one's description, for admins to see.
ALTER TABLE nodes ADD COLUMN rule_breaks BIGINT NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN last_rule_break TEXT;
