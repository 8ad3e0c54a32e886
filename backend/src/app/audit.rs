//! Reading the audit log: admins see everything; a tenant's owners see their tenant's
//! entries; a page holds at most `AUDIT_PAGE_MAX` of them.

use corral_api::TenantId;
use corral_api::audit::{AuditEntry, AuditQuery};
use corral_api::session::Role;

use crate::auth::Actor;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::audit;

/// The entries `q` asks for that `actor` may see, newest first.
pub async fn audit_list(
    state: &AppState,
    actor: &Actor,
    q: &AuditQuery,
) -> Result<Vec<AuditEntry>, ApiError> {
    corral_api::validate::audit_query(q)?;
    if actor.is_admin {
        return Ok(audit::list(&state.db, q, None).await?);
    }
    let owned: Vec<TenantId> =
        actor.roles.iter().filter(|(_, r)| **r == Role::Owner).map(|(t, _)| *t).collect();
    if let Some(t) = q.tenant_id
        && !owned.contains(&t)
    {
        return Err(match actor.roles.contains_key(&t) {
            true => ApiError::Forbidden("the audit log of a tenant is for its owners".into()),
            false => ApiError::NotFound(format!("tenant {t}")),
        });
    }
    Ok(audit::list(&state.db, q, Some(&owned)).await?)
}
