-- Metrics history. Each node and machine is a target with its list of series (metric and
-- device, in the order a row's body numbers them). Each tier is a ring: a bucket's row sits
-- in slot (at / resolution) % length and the next lap overwrites it, so nothing is ever
-- deleted for age and a target holds at most 31,800 rows. A row's body packs every series of
-- the target in that bucket, 12 bytes each (series, samples, average, maximum).
CREATE TABLE metric_targets (
    id      BIGSERIAL PRIMARY KEY,
    kind    TEXT NOT NULL,
    target  TEXT NOT NULL,
    series  TEXT NOT NULL DEFAULT '[]',
    UNIQUE (kind, target)
);
CREATE TABLE metric_rows (
    target_id BIGINT NOT NULL,
    tier      BIGINT NOT NULL,
    slot      BIGINT NOT NULL,
    at        BIGINT NOT NULL,
    body      BYTEA NOT NULL,
    PRIMARY KEY (target_id, tier, slot)
);
-- The last sample taken from each node, so a restarted backend asks for what follows it.
CREATE TABLE metric_cursors (
    node_id TEXT PRIMARY KEY,
    seq     BIGINT NOT NULL
);
