-- A limit on the number of snapshots a tenant's machines may hold (NULL: none).
ALTER TABLE tenant_quotas ADD COLUMN snapshots BIGINT;
