-- Each machine's boot order, CD and host bridge as its node reports them (JSON), and the host
-- bridges each node offers (JSON list).
ALTER TABLE machines ADD COLUMN devices TEXT NOT NULL DEFAULT '{}';
ALTER TABLE nodes ADD COLUMN host_bridges TEXT NOT NULL DEFAULT '[]';
