//! Reading the audit log: admins see everything; a tenant's owners see their tenant's
//! entries; a page holds at most `AUDIT_PAGE_MAX` of them.

use corral_api::TenantId;
use corral_api::audit::{AuditEntry, AuditQuery};
use corral_api::session::Role;

use crate::auth::Actor;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::audit;

/// A time bound of a query as the store compares it: whole seconds, in UTC, as the stored
/// times begin (`2026-12-06T20:00:00` for `2026-12-06T21:00:00.5+01:00`).
fn whole_seconds_utc(field: &'static str, t: &str) -> Result<String, ApiError> {
    use time::format_description::well_known::Rfc3339;
    let bad = || ApiError::Validation {
        field: field.into(),
        message: "an RFC 3339 time, such as 2026-12-06T21:00:00Z".into(),
    };
    let at = time::OffsetDateTime::parse(t, &Rfc3339).map_err(|_| bad())?.to_offset(time::UtcOffset::UTC);
    let form = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    at.format(&form).map_err(|_| bad())
}

/// The entries `q` asks for that `actor` may see, newest first.
pub async fn audit_list(
    state: &AppState,
    actor: &Actor,
    q: &AuditQuery,
) -> Result<Vec<AuditEntry>, ApiError> {
    corral_api::validate::audit_query(q)?;
    let q = &AuditQuery {
        since: q.since.as_deref().map(|t| whole_seconds_utc("since", t)).transpose()?,
        until: q.until.as_deref().map(|t| whole_seconds_utc("until", t)).transpose()?,
        ..q.clone()
    };
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

#[cfg(test)]
mod tests {
    use super::whole_seconds_utc;

    #[test]
    fn time_bounds_become_whole_utc_seconds() {
        assert_eq!(whole_seconds_utc("since", "2026-12-06T21:00:00.5+01:00").unwrap(), "2026-12-06T20:00:00");
        assert_eq!(whole_seconds_utc("since", "2026-12-06T21:00:00Z").unwrap(), "2026-12-06T21:00:00");
        assert!(whole_seconds_utc("until", "2026-12-06").is_err());
    }
}
