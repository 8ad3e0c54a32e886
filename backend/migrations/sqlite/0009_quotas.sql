-- Per-tenant limits; NULL means no limit. A tenant without a row has no limits.
CREATE TABLE tenant_quotas (
    tenant_id   TEXT PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    vcpus       BIGINT,
    memory_mib  BIGINT,
    disk_gib    BIGINT,
    machines    BIGINT
);
