//! `/api/v1/audit`: the audit log, filtered by tenant, user or machine, newest first, and
//! the same as JSON lines for export. Admins see everything; a tenant's owners see their
//! tenant's entries.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use corral_api::audit::{AuditEntry, AuditQuery};
use corral_api::session::Role;
use corral_api::{ErrorBody, TenantId};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Json, Query};
use crate::auth::Actor;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::audit;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(audit_list)).routes(routes!(audit_export))
}

async fn entries(state: &AppState, actor: &Actor, q: &AuditQuery) -> Result<Vec<AuditEntry>, ApiError> {
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

/// Audit entries, newest first (at most 1000; page with `before`).
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = Vec<AuditEntry>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn audit_list(
    State(state): State<AppState>,
    actor: Actor,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<Vec<AuditEntry>>> {
    Ok(Json(entries(&state, &actor, &q).await?))
}

/// The same entries as JSON lines (`application/x-ndjson`), for export.
#[utoipa::path(get, path = "/api/v1/audit/export", tag = "audit", params(AuditQuery),
    responses((status = 200, description = "one AuditEntry per line", content_type = "application/x-ndjson"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn audit_export(
    State(state): State<AppState>,
    actor: Actor,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Response> {
    let mut out = String::new();
    for e in entries(&state, &actor, &q).await? {
        out.push_str(&serde_json::to_string(&e).map_err(ApiError::internal)?);
        out.push('\n');
    }
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], out).into_response())
}
