-- The audit log is pruned by age (the retention period, 400 days by default): an index on
-- the time keeps each pruning pass from reading the whole table.
CREATE INDEX audit_at ON audit_log (at);
