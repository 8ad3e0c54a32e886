-- The audit log: who did what to what, when, from where, and how it ended. Append-only:
-- nothing in the code updates or deletes a row.
CREATE TABLE audit_log (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    at          TEXT NOT NULL,
    user_id     TEXT,
    username    TEXT,
    token_id    TEXT,
    tenant_id   TEXT,
    action      TEXT NOT NULL,
    target      TEXT,
    machine_id  TEXT,
    result      TEXT NOT NULL,
    source      TEXT
);
CREATE INDEX audit_tenant ON audit_log (tenant_id, seq);
CREATE INDEX audit_user ON audit_log (user_id, seq);
CREATE INDEX audit_machine ON audit_log (machine_id, seq);
