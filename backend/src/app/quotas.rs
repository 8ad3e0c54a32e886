//! Tenant quotas, enforced when a request is admitted. Admission to one tenant is serialized
//! (a lock per tenant, held until the new machine's row is written), so ten creates racing
//! for the last vCPUs cannot all pass the check before any of them is counted. The lock is
//! per backend process: run one backend per database (as for events).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use corral_api::TenantId;
use corral_api::people::{Quota, QuotaLimits, QuotaUsage};
use tokio::sync::OwnedMutexGuard;

use crate::auth::Actor;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::quotas;

#[derive(Clone, Default)]
pub struct AdmissionLocks(Arc<Mutex<HashMap<TenantId, Arc<tokio::sync::Mutex<()>>>>>);

/// What a request would add to a tenant.
#[derive(Clone, Copy, Debug, Default)]
pub struct Demand {
    pub vcpus: u64,
    pub memory_mib: u64,
    pub disk_gib: u64,
    pub machines: u64,
    pub snapshots: u64,
}

/// The first limit `demand` would break, as (field, message); `None` when it fits.
pub fn breach(limits: &QuotaLimits, used: &QuotaUsage, d: Demand) -> Option<(&'static str, String)> {
    let checks = [
        ("vcpus", limits.vcpus, used.vcpus, d.vcpus, "vCPUs"),
        ("memory_mib", limits.memory_mib, used.memory_mib, d.memory_mib, "MiB of memory"),
        ("disk_gib", limits.disk_gib, used.disk_gib, d.disk_gib, "GiB of disk"),
        ("machines", limits.machines, used.machines, d.machines, "machines"),
        ("snapshots", limits.snapshots, used.snapshots, d.snapshots, "snapshots"),
    ];
    checks.into_iter().find_map(|(field, limit, used, want, unit)| {
        let limit = limit?;
        (want > 0 && used + want > limit).then(|| {
            (
                field,
                format!(
                    "the tenant's quota is {limit} {unit}; {used} are in use, so {want} more would exceed it by {}",
                    used + want - limit
                ),
            )
        })
    })
}

/// Admits `demand` to the tenant or says which limit it breaks. The guard must be held until
/// what was admitted is written (the machine's row), so the next admission counts it.
pub async fn admit(
    state: &AppState,
    tenant: TenantId,
    demand: Demand,
) -> Result<OwnedMutexGuard<()>, ApiError> {
    let lock = state.admission.0.lock().unwrap_or_else(|p| p.into_inner()).entry(tenant).or_default().clone();
    let guard = lock.lock_owned().await;
    let limits = quotas::limits(&state.db, tenant).await?;
    let mut used = quotas::usage(&state.db, tenant).await?;
    if demand.snapshots > 0 && limits.snapshots.is_some() {
        used.snapshots = snapshot_count(state, tenant).await?;
    }
    if let Some((field, message)) = breach(&limits, &used, demand) {
        return Err(ApiError::QuotaExceeded { field: field.into(), message });
    }
    Ok(guard)
}

/// Snapshots live on the nodes: counted by asking each machine's node. A machine whose node
/// does not answer counts as none, so an unreachable node can let a tenant past its limit.
async fn snapshot_count(state: &AppState, tenant: TenantId) -> Result<u64, ApiError> {
    let vis = crate::store::machines::Visibility::Tenants(vec![tenant]);
    let mut count = 0;
    for m in crate::store::machines::machine_list(&state.db, &vis).await? {
        if let Some(client) = state.nodes.get(m.node_id)
            && let Ok(list) = client.snapshot_list(m.id).await
        {
            count += list.len() as u64;
        }
    }
    Ok(count)
}

pub async fn quota_get(state: &AppState, actor: &Actor, tenant: TenantId) -> Result<Quota, ApiError> {
    actor.role_in(Some(tenant)).ok_or_else(|| ApiError::NotFound(format!("tenant {tenant}")))?;
    let mut used = quotas::usage(&state.db, tenant).await?;
    used.snapshots = snapshot_count(state, tenant).await?;
    Ok(Quota { limits: quotas::limits(&state.db, tenant).await?, used })
}

pub async fn quota_set(
    state: &AppState,
    actor: &Actor,
    tenant: TenantId,
    limits: QuotaLimits,
) -> Result<Quota, ApiError> {
    if !actor.is_admin {
        return Err(ApiError::Forbidden("setting quotas is for administrators".into()));
    }
    corral_api::validate::quota_limits(&limits)?;
    if crate::store::users::tenant_list(&state.db, Some(&[tenant])).await?.is_empty() {
        return Err(ApiError::NotFound(format!("tenant {tenant}")));
    }
    quotas::set_limits(&state.db, tenant, &limits).await?;
    tracing::info!(%tenant, ?limits, by = %actor.username, "quota set");
    quota_get(state, actor, tenant).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_breach_names_the_limit_and_by_how_much() {
        let limits = QuotaLimits { vcpus: Some(4), machines: Some(10), ..Default::default() };
        let used = QuotaUsage { vcpus: 3, machines: 1, ..Default::default() };
        assert!(breach(&limits, &used, Demand { vcpus: 1, machines: 1, ..Default::default() }).is_none());
        let (field, msg) =
            breach(&limits, &used, Demand { vcpus: 2, machines: 1, ..Default::default() }).unwrap();
        assert_eq!(field, "vcpus");
        assert!(msg.contains("quota is 4 vCPUs") && msg.contains("by 1"), "{msg}");
        assert!(
            breach(&QuotaLimits::default(), &used, Demand { vcpus: 1000, ..Default::default() }).is_none()
        );
    }
}
