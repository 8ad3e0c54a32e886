//! Tenant limits and what a tenant's machines hold.

use corral_api::TenantId;
use corral_api::people::{QuotaLimits, QuotaUsage};
use sqlx::Row;

use super::{to_i64, u64_col};
use crate::db::Db;

fn opt_u64(r: &sqlx::any::AnyRow, col: &str) -> Result<Option<u64>, sqlx::Error> {
    let v: Option<i64> = r.try_get(col)?;
    Ok(v.map(|v| v.max(0) as u64))
}

pub async fn limits(db: &Db, tenant: TenantId) -> Result<QuotaLimits, sqlx::Error> {
    let row = sqlx::query(
        "SELECT vcpus, memory_mib, disk_gib, machines, snapshots FROM tenant_quotas WHERE tenant_id = $1",
    )
    .bind(tenant.to_string())
    .fetch_optional(db)
    .await?;
    match row {
        None => Ok(QuotaLimits::default()),
        Some(r) => Ok(QuotaLimits {
            vcpus: opt_u64(&r, "vcpus")?,
            memory_mib: opt_u64(&r, "memory_mib")?,
            disk_gib: opt_u64(&r, "disk_gib")?,
            machines: opt_u64(&r, "machines")?,
            snapshots: opt_u64(&r, "snapshots")?,
        }),
    }
}

pub async fn set_limits(db: &Db, tenant: TenantId, l: &QuotaLimits) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO tenant_quotas (tenant_id, vcpus, memory_mib, disk_gib, machines, snapshots) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id) DO UPDATE SET vcpus = excluded.vcpus, \
         memory_mib = excluded.memory_mib, disk_gib = excluded.disk_gib, machines = excluded.machines, \
         snapshots = excluded.snapshots",
    )
    .bind(tenant.to_string())
    .bind(l.vcpus.map(to_i64))
    .bind(l.memory_mib.map(to_i64))
    .bind(l.disk_gib.map(to_i64))
    .bind(l.machines.map(to_i64))
    .bind(l.snapshots.map(to_i64))
    .execute(db)
    .await?;
    Ok(())
}

/// What the tenant's machines hold, counting ones being created and not `lost` ones.
pub async fn usage(db: &Db, tenant: TenantId) -> Result<QuotaUsage, sqlx::Error> {
    let r = sqlx::query(
        "SELECT CAST(COUNT(*) AS BIGINT) AS machines, CAST(COALESCE(SUM(vcpus), 0) AS BIGINT) AS vcpus, \
         CAST(COALESCE(SUM(memory_mib), 0) AS BIGINT) AS memory_mib, \
         CAST(COALESCE(SUM(disk_gib), 0) AS BIGINT) AS disk_gib \
         FROM machines WHERE tenant_id = $1 AND state <> 'lost'",
    )
    .bind(tenant.to_string())
    .fetch_one(db)
    .await?;
    Ok(QuotaUsage {
        vcpus: u64_col(&r, "vcpus")?,
        memory_mib: u64_col(&r, "memory_mib")?,
        disk_gib: u64_col(&r, "disk_gib")?,
        machines: u64_col(&r, "machines")?,
        snapshots: 0,
    })
}
